"""The backup catalogue in Django admin (§6.2). Every action is one service call, reported with
message_user and recorded in admin's history (LogEntry) with the user who did it. The schema-change
ledger (§7) is shown here too, read-only."""

import json

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.chart import backup_chart_svg
from backups_app.engines import get_engine
from backups_app.engines.base import ExactConfirmation
from backups_app.exceptions import BackupError
from backups_app.health import health_report
from backups_app.management.base import human_size
from backups_app.models import Backup, Export, SchemaChange
from backups_app.services import (
    backup_create,
    backup_merge,
    backup_restore,
    backup_restore_preview,
    backup_rotate,
    backup_verify,
)
from backups_app.services.catalogue import manifest_update
from backups_app.services.offsite import (
    OffsiteSelection,
    backup_offsite_fetch_selected,
    backup_offsite_upload_selected,
)
from backups_app.services.restore import tables_newer_than
from backups_app.services.schema_change import schema_change_rollback_check
from waitlist.models import Signup


class LocationFilter(admin.SimpleListFilter):
    """Where a backup lives, as `Backup.location` says: its dump in BACKUP_DIR, a copy
    off-site, or both. The folder is listed once, not stat-ed per backup."""

    title = "where"
    parameter_name = "where"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("local", "local only"), ("offsite", "off-site only"), ("both", "both")]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() not in {"local", "offsite", "both"}:
            return queryset
        folder = conf.backup_dir()
        local = (
            [p.name for p in folder.iterdir() if files.NAME_PATTERN.match(p.name) and p.is_file()]
            if folder.is_dir()
            else []
        )
        if self.value() == "local":
            return queryset.filter(offsite_at__isnull=True, name__in=local)
        if self.value() == "both":
            return queryset.filter(offsite_at__isnull=False, name__in=local)
        return queryset.filter(offsite_at__isnull=False).exclude(name__in=local)


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    change_list_template = "admin/backups_app/backup/change_list.html"
    list_display = [
        "name",
        "kind",
        "status",
        "age",
        "size",
        "where",
        "signups",
        "verified",
        "pinned",
        "shrink_detected",
        "download_link",
        "restore_link",
    ]
    list_filter = [
        "status",
        "kind",
        LocationFilter,
        "pinned",
        "verification_ok",
        "shrink_detected",
    ]
    search_fields = ["name", "note", "triggered_by"]
    actions = [
        "verify_with_restore_test",
        "pin",
        "unpin",
        "rotate_now",
        "upload_offsite_now",
        "fetch_from_offsite",
    ]
    readonly_fields = [f.name for f in Backup._meta.fields]
    list_per_page = 50

    # The catalogue is written by the services only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_create_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.create_backup")

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.restore_backup")

    def has_download_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.download_backup")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """The catalogue under the status panel: health, RPO, restore test, disk, off-site lag."""
        checks = {check.name: check for check in health_report()}
        recent = list(Backup.objects.filter(status=Backup.Status.SUCCEEDED)[:50])
        extra_context = {
            **(extra_context or {}),
            "health_checks": checks.values(),
            "healthy": all(check.ok for check in checks.values()),
            "chart": backup_chart_svg(recent),
            # A catalogue written by the services, not a list of things to edit.
            "title": "Backups",
        }
        return super().changelist_view(request, extra_context=extra_context)

    def get_list_display(self, request: HttpRequest):
        """Offer Download and Restore only to those allowed to use them."""
        columns = list(super().get_list_display(request))
        if not self.has_download_permission(request):
            columns.remove("download_link")
        if not self.has_restore_permission(request):
            columns.remove("restore_link")
        return columns

    @admin.display(description="age", ordering="started_at")
    def age(self, backup: Backup) -> str:
        return timesince(backup.started_at, timezone.now()).split(",")[0] + " ago"

    @admin.display(description="size", ordering="size_bytes")
    def size(self, backup: Backup) -> str:
        return human_size(backup.size_bytes)

    @admin.display(description="where")
    def where(self, backup: Backup) -> str:
        location = backup.location or "-"
        if backup.offsite_at is None and backup.offsite_error:
            # Short in the table; the attempts and the store's error on hover.
            return format_html(
                '<span title="off-site upload failed {} time(s): {}">{} ⚠</span>',
                backup.offsite_attempts,
                backup.offsite_error,
                location,
            )
        return location

    @admin.display(description="signups")
    def signups(self, backup: Backup):
        return backup.row_counts.get(Signup._meta.db_table, "-") if backup.row_counts else "-"

    @admin.display(description="verified", boolean=True, ordering="verification_ok")
    def verified(self, backup: Backup):
        return backup.verification_ok

    @admin.display(description="download")
    def download_link(self, backup: Backup) -> str:
        if backup.status != Backup.Status.SUCCEEDED:
            return "-"
        url = reverse("admin:backups_app_backup_download", args=[backup.pk])
        return format_html('<a href="{}">Download</a>', url)

    @admin.display(description="restore")
    def restore_link(self, backup: Backup) -> str:
        if backup.status != Backup.Status.SUCCEEDED:
            return "-"
        url = reverse("admin:backups_app_backup_restore", args=[backup.pk])
        return format_html('<a href="{}">Restore…</a>', url)

    # --- actions -------------------------------------------------------------------------------
    @admin.action(description="Verify (restore test)", permissions=["create"])
    def verify_with_restore_test(self, request: HttpRequest, queryset) -> None:
        for backup in queryset.filter(status=Backup.Status.SUCCEEDED):
            result = backup_verify(backup=backup, restore_test=True)
            self.log_change(request, backup, f"Verified with a restore test: {result.detail}")
            level = messages.SUCCESS if result.ok else messages.ERROR
            # Admin capitalises a message's first letter: never start one with a file name.
            self.message_user(request, f"Restore test of {backup.name}: {result.detail}", level)

    @admin.action(description="Pin (never rotate away)", permissions=["change"])
    def pin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=True)

    @admin.action(description="Unpin", permissions=["change"])
    def unpin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=False)

    def _set_pinned(self, request: HttpRequest, queryset, *, pinned: bool) -> None:
        reason = f"pinned by {request.user.get_username()}" if pinned else ""
        done = 0
        for backup in queryset.filter(status=Backup.Status.SUCCEEDED):
            try:
                manifest_update(backup, pinned=pinned, pin_reason=reason)
            except ValidationError as err:
                self.message_user(
                    request, f"Not changed, {backup.name}: {err.messages[0]}", messages.ERROR
                )
                continue
            self.log_change(request, backup, "Pinned" if pinned else "Unpinned")
            done += 1
        self.message_user(request, f"{'Pinned' if pinned else 'Unpinned'} {done} backup(s).")

    @admin.action(description="Rotate now (apply retention)", permissions=["create"])
    def rotate_now(self, request: HttpRequest, queryset) -> None:
        try:
            deleted = backup_rotate()
        except BackupError as err:
            self.message_user(request, str(err), messages.ERROR)
            return
        for backup in deleted:
            self.log_change(request, backup, "Deleted by rotation")
        self.message_user(request, f"Rotation deleted {len(deleted)} backup(s).")

    @admin.action(description="Upload off-site now", permissions=["create"])
    def upload_offsite_now(self, request: HttpRequest, queryset) -> None:
        try:
            result = backup_offsite_upload_selected(backups=list(queryset))
        except ValidationError as err:
            self.message_user(request, "; ".join(err.messages), messages.ERROR)
            return
        self._report_offsite(request, queryset, result, done="Copied off-site")

    @admin.action(description="Fetch from off-site", permissions=["create"])
    def fetch_from_offsite(self, request: HttpRequest, queryset) -> None:
        try:
            result = backup_offsite_fetch_selected(backups=list(queryset))
        except ValidationError as err:
            self.message_user(request, "; ".join(err.messages), messages.ERROR)
            return
        except BackupError as err:
            self.message_user(request, f"Nothing was fetched: {err}", messages.ERROR)
            return
        self._report_offsite(request, queryset, result, done="Fetched from off-site")

    def _report_offsite(
        self, request: HttpRequest, queryset, result: OffsiteSelection, *, done: str
    ) -> None:
        chosen = {backup.name: backup for backup in queryset}
        for name in result.done:
            self.log_change(request, chosen[name], done)
        if result.done:
            self.message_user(request, f"{done}: {', '.join(result.done)}.")
        for name, error in result.failed.items():
            self.message_user(request, f"Failed, {name}: {error}", messages.ERROR)
        if result.skipped:
            skipped = "; ".join(f"{name}: {why}" for name, why in result.skipped.items())
            self.message_user(request, f"Skipped {skipped}.", messages.WARNING)

    # --- views ---------------------------------------------------------------------------------
    def get_urls(self):
        extra = [
            path(
                "backup-now/",
                self.admin_site.admin_view(require_POST(self.backup_now_view)),
                name="backups_app_backup_backup_now",
            ),
            path(
                "<int:backup_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="backups_app_backup_restore",
            ),
            path(
                "<int:backup_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="backups_app_backup_download",
            ),
        ]
        return extra + super().get_urls()

    def backup_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if not self.has_create_permission(request):
            raise PermissionDenied
        try:
            backup = backup_create(
                kind=Backup.Kind.MANUAL, triggered_by=request.user.get_username()
            )
        except BackupError as err:
            self.message_user(request, f"The backup failed: {err}", messages.ERROR)
        else:
            self.log_addition(request, backup, "Backed up now")
            self.message_user(
                request, f"Backed up to {backup.name} ({human_size(backup.size_bytes)})."
            )
        return HttpResponseRedirect(reverse("admin:backups_app_backup_changelist"))

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

    def download_view(self, request: HttpRequest, backup_id: int) -> FileResponse:
        if not self.has_download_permission(request):
            raise PermissionDenied
        backup = get_object_or_404(Backup, pk=backup_id, status=Backup.Status.SUCCEEDED)
        try:
            dump = files.resolve_dump(backup.name)
        except ValidationError as err:
            self.message_user(request, err.messages[0], messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backups_app_backup_changelist"))
        self.log_change(request, backup, "Downloaded")
        return FileResponse(dump.open("rb"), as_attachment=True, filename=dump.name)


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "row_count", "size_bytes", "triggered_by"]
    readonly_fields = [f.name for f in Export._meta.fields]

    # A record of exports taken: viewed, never edited.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SchemaChange)
class SchemaChangeAdmin(admin.ModelAdmin):
    """The ledger of guarded `migrate` runs. An audit trail: nobody adds, edits or deletes it
    here, superusers included; rolling back is `manage.py rollback_schema_change`."""

    list_display = [
        "id",
        "started_at",
        "outcome_label",
        "risk",
        "migration_names",
        "backup",
        "triggered_by",
        "short_reason",
    ]
    list_display_links = ["id", "started_at"]
    list_filter = ["outcome", "risk"]
    search_fields = ["reason", "triggered_by", "backup_name"]
    date_hierarchy = "started_at"
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["outcome", "risk", "database", "started_at", "finished_at"]}),
        ("Plan", {"fields": ["migrations", "plan_table"]}),
        ("Why it ran", {"fields": ["reason", "allowed_dangerous", "triggered_by"]}),
        ("Result", {"fields": ["error", "applied_by_run"]}),
        (
            "Backup and rollback",
            {
                "fields": [
                    "backup",
                    "rollback_command",
                    "rolled_back_at",
                    "rolled_back_by",
                    "rollback_detail",
                ]
            },
        ),
        (
            "Schema state and risk report as stored",
            {"classes": ["collapse"], "fields": ["applied_before", "applied_after", "plan"]},
        ),
    ]
    readonly_fields = [
        *(f.name for f in SchemaChange._meta.fields),
        "plan_table",
        "applied_by_run",
        "backup",
        "rollback_command",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        # The backup is referenced by name; look its row up in the same query, not once per row.
        backup_pk = Backup.objects.filter(name=OuterRef("backup_name")).values("pk")[:1]
        return super().get_queryset(request).annotate(backup_pk=Subquery(backup_pk))

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, change: SchemaChange) -> str:
        label = change.get_outcome_display()
        if change.outcome in (SchemaChange.Outcome.FAILED, SchemaChange.Outcome.REFUSED):
            return format_html('<strong style="color: var(--error-fg)">{}</strong>', label)
        return label

    @admin.display(description="migrations")
    def migration_names(self, change: SchemaChange) -> str:
        shown = ", ".join(change.migrations[:3])
        hidden = len(change.migrations) - 3
        return f"{shown} (+{hidden} more)" if hidden > 0 else shown or "—"

    @admin.display(description="backup", ordering="backup_name")
    def backup(self, change: SchemaChange) -> str:
        if not change.backup_name:
            return "—"
        if change.backup_pk is None:
            return change.backup_name  # rotated away, or never catalogued
        url = reverse("admin:backups_app_backup_change", args=[change.backup_pk])
        return format_html('<a href="{}">{}</a>', url, change.backup_name)

    @admin.display(description="reason")
    def short_reason(self, change: SchemaChange) -> str:
        return Truncator(change.reason).chars(60)

    @admin.display(description="operations")
    def plan_table(self, change: SchemaChange) -> str:
        """The risk report as a table, one row per operation; every value escaped, because
        reasons and operation descriptions come from migration files and user input."""
        plan = change.plan if isinstance(change.plan, dict) else {}
        operations = [op for op in plan.get("operations") or [] if isinstance(op, dict)]
        summary = format_html(
            "<p>Risk <strong>{}</strong>; action {}; {}.</p>",
            plan.get("risk", change.risk),
            plan.get("action", "—"),
            "the database held data" if plan.get("has_data") else "no data yet",
        )
        if not operations:
            return format_html("{}<p>No operations were planned.</p>", summary)
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{} ({})<br>{}</td><td>{}</td><td>{}</td>"
            "<td>{}<br><em>safer:</em> {}</td></tr>",
            (_operation_cells(op) for op in operations),
        )
        return format_html(
            '{}<table style="width: 100%"><thead><tr><th>level</th><th>operation</th>'
            "<th>table.column</th><th>rows affected</th><th>reason and safe alternative</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            summary,
            rows,
        )

    @admin.display(description="applied by this run")
    def applied_by_run(self, change: SchemaChange) -> str:
        done = sorted(set(change.applied_after or []) - set(change.applied_before or []))
        return ", ".join(done) or "—"

    @admin.display(description="roll back with")
    def rollback_command(self, change: SchemaChange) -> str:
        # The rollback's own checks decide, so the page never offers a command it would refuse.
        try:
            schema_change_rollback_check(change_id=change.pk)
        except ValidationError as err:
            return "; ".join(err.messages)
        return format_html("<code>manage.py rollback_schema_change {}</code>", change.pk)


def _operation_cells(operation: dict) -> tuple:
    """One row of the plan table: level, migration, direction, operation, table.column, rows
    affected, reason, safe alternative (the same fields `migrate` prints)."""
    level = str(operation.get("level", "")).upper()
    if operation.get("reviewed"):
        level += " (reviewed)"
    where = ".".join(part for part in (operation.get("table"), operation.get("column")) if part)
    rows = operation.get("rows")
    return (
        level,
        operation.get("migration", ""),
        operation.get("direction", ""),
        operation.get("operation", ""),
        where or "—",
        "?" if rows is None else rows,
        operation.get("reason", ""),
        operation.get("safe_alternative") or "—",
    )
