"""The restore confirmation page of a backup: compare, merge, restore, restore exactly."""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from backups_app.alerts import logger
from backups_app.exceptions import BackupError, error_text
from backups_app.forms import RestoreForm
from backups_app.models import Backup
from backups_app.services import (
    RestorePreview,
    RestoreResult,
    backup_merge,
    backup_restore,
    backup_restore_preview,
)

# Tables whose model names say less to staff than these do.
TABLE_LABELS = {
    "auth_user": "Staff accounts",
    "django_session": "Login sessions",
    "django_admin_log": "Admin history",
}


@dataclass(frozen=True)
class TableRows:
    """One line of the page's per-table comparison."""

    label: str
    table: str
    in_backup: int
    now: int | str


class RestoreViews:
    """The restore page, mixed into BackupAdmin (which routes to it and checks permissions)."""

    def restore_view(self, request: HttpRequest, backup_id: int) -> HttpResponse:
        """Like Django's delete confirmation: say what will happen, then ask for the name.

        "compare" previews, read-only, what a restore would bring back and which live signups
        the backup lacks; "merge" re-inserts the missing signups; "restore" puts the backup back
        and keeps the later signups and staff accounts; "restore_exact" also removes the later
        signups. RestoreForm decides what was confirmed; a wrong confirmation changes nothing.
        """
        if not self.has_restore_permission(request):
            raise PermissionDenied
        backup = get_object_or_404(Backup, pk=backup_id, status=Backup.Status.SUCCEEDED)
        compare, error = False, ""
        if request.method == "POST":
            form = RestoreForm(request.POST, backup_name=backup.name)
            valid = form.is_valid()
            # Kept when only the confirmation was wrong: a refused exact restore compares again.
            operation = form.cleaned_data.get("operation")
            try:
                if not valid:
                    error = form.error_summary()
                elif operation in {RestoreForm.RESTORE, RestoreForm.RESTORE_EXACT}:
                    return self._restore(request, backup, form)
                elif operation == RestoreForm.MERGE:
                    return self._merge(request, backup)
            except (BackupError, ValidationError) as err:
                error = f"{error_text(err)} Nothing was changed."
            # A refused exact restore shows the numbers again, as they are now.
            compare = operation == RestoreForm.COMPARE or (
                operation == RestoreForm.RESTORE_EXACT and bool(error)
            )
        try:
            # Without a comparison, what the catalogue and the live tables say: a page view
            # opens and fetches no backup file.
            preview = backup_restore_preview(name=backup.name, compare=compare, check_files=compare)
        except (BackupError, ValidationError) as err:
            error = f"{error_text(err)} Nothing was changed."
            preview = backup_restore_preview(name=backup.name, compare=False, check_files=False)
        return TemplateResponse(
            request,
            "admin/backups_app/backup/restore.html",
            self._restore_context(request, backup, preview=preview, error=error),
        )

    def _restore_context(
        self, request: HttpRequest, backup: Backup, *, preview: RestorePreview, error: str
    ) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Restore {backup.name}?",
            "backup": backup,
            "error": error,
            # The template's comparison (and the exact restore it offers) needs one.
            "preview": preview if preview.compared else None,
            "backup_signups": preview.backup_signups,
            "live_signups": preview.live_signups,
            "signups_added_since": preview.signups_added_since,
            "backup_accounts": preview.backup_accounts,
            "tables_dropped": sorted(preview.tables_newer.items()),
            "table_rows": self._table_rows(preview),
            "manifest_json": json.dumps(backup.manifest, indent=2, sort_keys=True),
        }

    def _restore(self, request: HttpRequest, backup: Backup, form: RestoreForm) -> HttpResponse:
        exact = form.cleaned_data["operation"] == RestoreForm.RESTORE_EXACT
        result = backup_restore(
            name=backup.name,
            triggered_by=request.user.get_username(),
            exact=exact,
            exact_confirmed=form.exact_confirmation() if exact else None,
            include_accounts=form.cleaned_data["include_accounts"],
        )
        self._log_restore(request, backup, result)
        changelist = reverse("admin:backups_app_backup_changelist")
        if result.accounts_kept:
            self._report_restore(request, result)
            return HttpResponseRedirect(changelist)
        # The backup's accounts and sessions replaced the live ones: this session may be gone,
        # or may be the backup's copy of it. Log out now, so that it is neither, and so that
        # the report below lives in a fresh session should it not fit in the messages cookie
        # (it would otherwise go to a session the restore deleted, and be lost).
        logout(request)
        self._report_restore(request, result)
        login = reverse("admin:login")
        return HttpResponseRedirect(f"{login}?{urlencode({'next': changelist})}")

    def _merge(self, request: HttpRequest, backup: Backup) -> HttpResponse:
        result = backup_merge(name=backup.name, triggered_by=request.user.get_username())
        self.log_change(request, backup, f"Re-inserted {result.inserted} missing signups")
        self.message_user(
            request,
            f"Re-inserted {result.inserted} missing signup(s) from {backup.name}; "
            + (f"{self._erased_kept(result.kept_erased)}; " if result.kept_erased else "")
            + f"the data before it is in {result.safety_backup} (pinned).",
        )
        return HttpResponseRedirect(reverse("admin:backups_app_backup_changelist"))

    def _log_restore(self, request: HttpRequest, backup: Backup, result: RestoreResult) -> None:
        summary = f"Restored ({self._later_signups(result)}; {self._accounts(result)})"
        # With the backup's accounts (and admin history), the one who restored may no longer
        # exist, or their id may now be another account's: log them where nothing was replaced.
        if result.accounts_kept:
            self.log_change(request, backup, summary)
        else:
            logger.info("admin restore name=%s by=%s: %s", result.name, request.user, summary)

    def _report_restore(self, request: HttpRequest, result: RestoreResult) -> None:
        safety = f"The data before it is in {result.safety_backup} (pinned)."
        if result.accounts_kept:
            self.message_user(
                request,
                f"Restored {result.name} in {result.seconds:.2f} s: "
                f"{self._later_signups(result)}, {self._accounts(result)}. {safety}",
            )
        else:
            # First and on its own: on the login page, this is what the person must act on.
            self.message_user(
                request,
                f"Restored {result.name}. Staff accounts were replaced by the backup's, so you "
                f"have been logged out; log in with an account from the backup.",
                level=messages.WARNING,
            )
            self.message_user(
                request,
                f"The restore took {result.seconds:.2f} s: "
                f"{self._later_signups(result)}{self._dropped(result)}. {safety}",
            )
        if result.signups_kept_erased:
            self.message_user(request, self._erased_kept(result.signups_kept_erased) + ".")
        if result.journal is not None:
            self.message_user(request, f"Signup journal: {result.journal.summary()}")
        elif result.journal_error:
            level = messages.INFO if result.exact else messages.ERROR
            self.message_user(request, f"Signup journal: {result.journal_error}.", level=level)

    @staticmethod
    def _erased_kept(count: int) -> str:
        """The backup's signups of erased fans (§12): said, so that nobody wonders why a
        restore or merge did not bring them back."""
        return f"{count} signup(s) of erased fans in the backup stayed erased"

    @staticmethod
    def _later_signups(result: RestoreResult) -> str:
        if result.exact:
            return f"{result.signups_removed} signup(s) it lacked were removed"
        return f"{result.signups_kept} signup(s) it lacked were kept"

    @classmethod
    def _accounts(cls, result: RestoreResult) -> str:
        accounts = "staff accounts kept" if result.accounts_kept else "the backup's accounts"
        return accounts + cls._dropped(result)

    @staticmethod
    def _dropped(result: RestoreResult) -> str:
        if not result.tables_dropped:
            return ""
        return "; dropped as newer than the backup: " + ", ".join(sorted(result.tables_dropped))

    @staticmethod
    def _table_rows(preview: RestorePreview) -> list[TableRows]:
        """Rows per table in the backup and now, each table named as staff know it."""
        labels = {
            model._meta.db_table: str(model._meta.verbose_name_plural).capitalize()
            for model in apps.get_models(include_auto_created=True)
        }
        labels.update(TABLE_LABELS)
        rows = [
            TableRows(labels.get(table, table), table, count, "missing" if now is None else now)
            for table, (count, now) in preview.table_rows.items()
        ]
        return sorted(rows, key=lambda row: (row.label.lower(), row.table))
