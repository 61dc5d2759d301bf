"""The restore confirmation page of a backup: compare, merge, restore, restore exactly."""

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.engines.base import ExactConfirmation
from backups_app.exceptions import BackupError
from backups_app.models import Backup
from backups_app.services import backup_merge, backup_restore, backup_restore_preview
from backups_app.services.restore import tables_newer_than
from waitlist.models import Signup


class RestoreViews:
    """The restore page, mixed into BackupAdmin (which routes to it and checks permissions)."""

    def restore_view(self, request: HttpRequest, backup_id: int):
        """Like Django's delete confirmation: say what will happen, then ask for the name.

        "compare" previews, read-only, what a restore would bring back and which live signups
        the backup lacks; "merge" re-inserts the missing signups; "restore" puts the backup back
        and keeps the later signups and staff accounts (the name typed exactly);
        "restore_exact" also removes the later signups (their number typed exactly).
        """
        if not self.has_restore_permission(request):
            raise PermissionDenied
        backup = get_object_or_404(Backup, pk=backup_id, status=Backup.Status.SUCCEEDED)
        changelist = reverse("admin:backups_app_backup_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Restore {backup.name}?",
            "backup": backup,
            "manifest_json": json.dumps(backup.manifest, indent=2, sort_keys=True),
            "comparison": self._compare_counts(backup),
            "backup_signups": backup.row_counts.get(Signup._meta.db_table, 0),
            "tables_dropped": sorted(tables_newer_than(backup.manifest).items()),
            "live_signups": Signup.objects.count(),
        }
        if request.method == "POST":
            operation = request.POST.get("operation")
            typed = request.POST.get("confirm_name", "").strip()
            include_accounts = request.POST.get("include_accounts") == "on"
            who = request.user.get_username()
            try:
                if operation == "compare":
                    context["preview"] = backup_restore_preview(name=backup.name)
                elif operation in {"restore", "merge"} and typed != backup.name:
                    context["error"] = (
                        "The name you typed does not match this backup; nothing was changed."
                    )
                elif operation == "restore":
                    result = backup_restore(
                        name=backup.name, triggered_by=who, include_accounts=include_accounts
                    )
                    self._report_restore(request, result)
                    return HttpResponseRedirect(changelist)
                elif operation == "restore_exact":
                    preview = backup_restore_preview(name=backup.name)
                    # The newest signup when the page was compared: none newer may go.
                    seen_newest = request.POST.get("newest_live_id", "")
                    if not seen_newest.isdigit():
                        context["preview"] = preview
                        context["error"] = "Compare with live first; nothing was changed."
                    elif request.POST.get("confirm_count", "").strip() != str(preview.later):
                        context["preview"] = preview
                        context["error"] = (
                            f"To remove the {preview.later} signup(s) this backup lacks, type "
                            f"that number; nothing was changed."
                        )
                    else:
                        result = backup_restore(
                            name=backup.name,
                            triggered_by=who,
                            exact=True,
                            exact_confirmed=ExactConfirmation(
                                removes=preview.later, newest_id=int(seen_newest)
                            ),
                            include_accounts=include_accounts,
                        )
                        self._report_restore(request, result)
                        return HttpResponseRedirect(changelist)
                elif operation == "merge":
                    result = backup_merge(name=backup.name, triggered_by=who)
                    self.log_change(
                        request, backup, f"Re-inserted {result.inserted} missing signups"
                    )
                    self.message_user(
                        request,
                        f"Re-inserted {result.inserted} missing signup(s) from {backup.name}; the "
                        f"data before it is in {result.safety_backup} (pinned).",
                    )
                    return HttpResponseRedirect(changelist)
                else:
                    context["error"] = "Choose what to do."
            except (BackupError, ValidationError) as err:
                message = "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
                context["error"] = f"{message} Nothing was changed."
        return TemplateResponse(request, "admin/backups_app/backup/restore.html", context)

    def _report_restore(self, request: HttpRequest, result) -> None:
        if result.exact:
            later = f"{result.signups_removed} signup(s) it lacked were removed"
        else:
            later = f"{result.signups_kept} signup(s) it lacked were kept"
        accounts = "staff accounts kept" if result.accounts_kept else "the backup's accounts"
        if result.tables_dropped:
            accounts += "; dropped as newer than the backup: " + ", ".join(
                sorted(result.tables_dropped)
            )
        summary = f"Restored ({later}; {accounts})"
        backup = Backup.objects.filter(name=result.name).first()
        # With the backup's accounts, the one who restored may no longer exist to be logged.
        if backup is not None and get_user_model().objects.filter(pk=request.user.pk).exists():
            self.log_change(request, backup, summary)
        else:
            logger.info("admin restore name=%s by=%s: %s", result.name, request.user, summary)
        self.message_user(
            request,
            f"Restored {result.name} in {result.seconds:.2f} s: {later}, {accounts}. The data "
            f"before it is in {result.safety_backup} (pinned).",
        )
        if result.journal is not None:
            self.message_user(request, f"Signup journal: {result.journal.summary()}")
        elif result.journal_error:
            level = messages.INFO if result.exact else messages.ERROR
            self.message_user(request, f"Signup journal: {result.journal_error}.", level=level)

    @staticmethod
    def _compare_counts(backup: Backup) -> list[tuple[str, int, int | str]]:
        live = get_engine().row_counts()
        return [
            (table, count, live.get(table, "missing"))
            for table, count in sorted(backup.row_counts.items())
        ]
