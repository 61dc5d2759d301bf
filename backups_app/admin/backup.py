"""The backup catalogue: status panel, chart, the list and its actions, Back up now, Download."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from backups_app.admin.restore import RestoreViews
from backups_app.admin.status import status_lines
from backups_app.chart import backup_chart_svg
from backups_app.exceptions import BackupError, error_text
from backups_app.health import health_report
from backups_app.humanize import human_age, human_size
from backups_app.models import Backup
from backups_app.selectors import backup_dump_get, backup_local_names, backup_recent
from backups_app.services import backup_create, backup_rotate, backup_verify_selected
from backups_app.services.catalogue import backup_pin_selected
from backups_app.services.offsite import (
    OffsiteSelection,
    backup_offsite_fetch_selected,
    backup_offsite_upload_selected,
)
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
        local = backup_local_names()
        if self.value() == "local":
            return queryset.filter(offsite_at__isnull=True, name__in=local)
        if self.value() == "both":
            return queryset.filter(offsite_at__isnull=False, name__in=local)
        return queryset.filter(offsite_at__isnull=False).exclude(name__in=local)


def _flag(word: str, detail: str, *, icon: str = "", problem: bool = False) -> str:
    """One flag of the flags column: a word, its detail on hover, and admin's own icon."""
    image = (
        format_html('<img src="{}" alt="">', static(f"admin/img/icon-{icon}.svg")) if icon else ""
    )
    return format_html(
        '<span class="backup-flag{}" title="{}">{}{}</span>',
        " backup-flag-problem" if problem else "",
        detail,
        image,
        word,
    )


@admin.register(Backup)
class BackupAdmin(RestoreViews, admin.ModelAdmin):
    change_list_template = "admin/backups_app/backup/change_list.html"
    # Short enough for 1280 px beside the filters; Download and Restore are added by
    # get_list_display, for those allowed to use them.
    list_display = ["label", "kind", "size", "where", "signups", "flags"]
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
        "upload_offsite_now",
        "fetch_from_offsite",
    ]
    # A backup's page: what staff ask first (what, when, how big, is it safe), then the proof
    # (verification, off-site), and the raw record folded at the end. Yes/no fields in words:
    # admin's red cross for "not pinned" reads as an error where all is normal.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "kind",
                    "status",
                    "started_at",
                    "took",
                    "size",
                    "signups",
                    "newest_signup_at",
                    "triggered_by",
                    "note",
                    "error",
                ]
            },
        ),
        ("Kept safe", {"fields": ["is_pinned", "pin_reason", "is_shrunk", "shrink_detail"]}),
        (
            "Verification",
            {
                "fields": [
                    "verification",
                    "verification_detail",
                    "verified_at",
                    "is_restore_tested",
                    "restore_seconds",
                ]
            },
        ),
        (
            "Off-site copy",
            {"fields": ["offsite_at", "offsite_attempts", "offsite_error", "offsite_next_try_at"]},
        ),
        (
            "Technical: the file and its manifest",
            {
                "classes": ["collapse"],
                "fields": [
                    "vendor",
                    "compression",
                    "sha256",
                    "newest_signup_id",
                    "rows_per_table",
                    "manifest_json",
                ],
            },
        ),
    ]
    readonly_fields = [
        *(f.name for f in Backup._meta.fields),
        "took",
        "size",
        "signups",
        "is_pinned",
        "is_shrunk",
        "verification",
        "is_restore_tested",
        "rows_per_table",
        "manifest_json",
    ]
    list_per_page = 50

    class Media:
        css = {"all": ["backups_app/admin.css"]}

    # The catalogue is written by the services only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        """A backup is never edited by hand: its page is for viewing ("View backup", no Save
        button). The change permission only lets the Pin and Unpin actions run."""
        return obj is None and super().has_change_permission(request)

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # The admin index and sidebar offer "View", not "Change", as for exports.
        return {**super().get_model_perms(request), "change": False}

    def has_create_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.create_backup")

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.restore_backup")

    def has_download_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.download_backup")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """The catalogue under the status panel: health, RPO, restore test, disk, off-site lag."""
        now = timezone.now()
        lines = status_lines(health_report(now=now), now=now)
        recent = backup_recent(limit=50)
        extra_context = {
            **(extra_context or {}),
            "status_lines": lines,
            "healthy": all(line.ok for line in lines),
            "chart": backup_chart_svg(recent),
            # A catalogue written by the services, not a list of things to edit.
            "title": "Backups",
        }
        return super().changelist_view(request, extra_context=extra_context)

    def get_list_display(self, request: HttpRequest):
        """Offer Download and Restore, in one column, only to those allowed to use them."""
        links = []
        if self.has_download_permission(request):
            links.append(self.download_link)
        if self.has_restore_permission(request):
            links.append(self.restore_link)
        if not links:
            return self.list_display

        @admin.display(description="actions")
        def file_actions(backup: Backup) -> str:
            if backup.status != Backup.Status.SUCCEEDED:
                return "-"
            return format_html_join(" ", "{}", ((link(backup),) for link in links))

        return [*self.list_display, file_actions]

    @admin.display(description="backup", ordering="started_at")
    def label(self, backup: Backup) -> str:
        """When it was taken and how long ago. The file name is on hover, read out by screen
        readers, on the backup's page, and found by the search."""
        started = timezone.localtime(backup.started_at)
        pattern = "j M H:i:s" if started.year == timezone.localtime().year else "j M Y H:i:s"
        return format_html(
            '<span title="{}">{}</span><span class="visually-hidden"> {}</span>'
            '<span class="backup-age">{}</span>',
            backup.name,
            date_format(started, pattern),
            backup.name,
            human_age(backup.started_at, timezone.now()),
        )

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

    @admin.display(description="flags", ordering="verification_ok")
    def flags(self, backup: Backup) -> str:
        """Status, verification, pin and shrink in words, only where there is something to say:
        a succeeded, unpinned, not yet verified backup is normal and shows nothing, and only a
        problem gets an error colour. Sorted by verification, as the column it replaces was;
        the filters pick pinned, shrunk or failed backups."""
        flags = []
        if backup.status == Backup.Status.FAILED:
            flags.append(_flag("failed", backup.error, icon="no", problem=True))
        elif backup.status == Backup.Status.RUNNING:
            flags.append(_flag("running", "the dump is being written"))
        if backup.verification_ok is not None:
            ok, tested = backup.verification_ok, backup.restore_tested
            if ok:
                verdict = "restore-tested" if tested else "verified"
            else:
                verdict = "restore test failed" if tested else "verification failed"
            flags.append(
                _flag(
                    verdict,
                    backup.verification_detail,
                    icon="yes" if ok else "no",
                    problem=not ok,
                )
            )
        if backup.pinned:
            flags.append(_flag("pinned", backup.pin_reason or "never rotated away"))
        if backup.shrink_detected:
            detail = backup.shrink_detail or "fewer signups than in the backup before"
            flags.append(_flag("shrank", detail, icon="alert", problem=True))
        return format_html_join(" ", "{}", ((flag,) for flag in flags))

    @admin.display(description="pinned")
    def is_pinned(self, backup: Backup) -> str:
        return "yes" if backup.pinned else "no"

    @admin.display(description="shrink detected")
    def is_shrunk(self, backup: Backup) -> str:
        return "yes" if backup.shrink_detected else "no"

    @admin.display(description="verification")
    def verification(self, backup: Backup) -> str:
        return {True: "passed", False: "failed", None: "not verified yet"}[backup.verification_ok]

    @admin.display(description="restore tested")
    def is_restore_tested(self, backup: Backup) -> str:
        return "yes" if backup.restore_tested else "no"

    @admin.display(description="took")
    def took(self, backup: Backup) -> str:
        if backup.duration_seconds is None:
            return "-"
        return f"{backup.duration_seconds:.2f} s"

    @admin.display(description="rows per table")
    def rows_per_table(self, backup: Backup) -> str:
        if not backup.row_counts:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            sorted(backup.row_counts.items()),
        )
        return format_html(
            '<table class="backup-row-counts"><thead><tr><th scope="col">table</th>'
            '<th scope="col">rows</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="manifest")
    def manifest_json(self, backup: Backup) -> str:
        return format_html(
            '<pre class="backup-manifest">{}</pre>',
            json.dumps(backup.manifest, indent=2, sort_keys=True),
        )

    def download_link(self, backup: Backup) -> str:
        url = reverse("admin:backups_app_backup_download", args=[backup.pk])
        return format_html('<a href="{}">Download</a>', url)

    def restore_link(self, backup: Backup) -> str:
        url = reverse("admin:backups_app_backup_restore", args=[backup.pk])
        return format_html('<a href="{}">Restore…</a>', url)

    # --- actions -------------------------------------------------------------------------------
    @admin.action(description="Verify (restore test)", permissions=["create"])
    def verify_with_restore_test(self, request: HttpRequest, queryset) -> None:
        chosen = {backup.name: backup for backup in queryset}
        results = backup_verify_selected(backups=chosen.values(), restore_test=True)
        for result in results:
            self.log_change(
                request, chosen[result.name], f"Verified with a restore test: {result.detail}"
            )
            level = messages.SUCCESS if result.ok else messages.ERROR
            # Admin capitalises a message's first letter: never start one with a file name.
            self.message_user(request, f"Restore test of {result.name}: {result.detail}", level)

    @admin.action(description="Pin (never rotate away)", permissions=["change"])
    def pin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=True)

    @admin.action(description="Unpin", permissions=["change"])
    def unpin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=False)

    def _set_pinned(self, request: HttpRequest, queryset, *, pinned: bool) -> None:
        result = backup_pin_selected(
            backups=queryset, pinned=pinned, by=request.user.get_username()
        )
        for name, why in result.refused.items():
            self.message_user(request, f"Not changed, {name}: {why}", messages.ERROR)
        for backup in result.done:
            self.log_change(request, backup, "Pinned" if pinned else "Unpinned")
        self.message_user(
            request, f"{'Pinned' if pinned else 'Unpinned'} {len(result.done)} backup(s)."
        )

    @admin.action(description="Upload off-site now", permissions=["create"])
    def upload_offsite_now(self, request: HttpRequest, queryset) -> None:
        try:
            result = backup_offsite_upload_selected(backups=list(queryset))
        except ValidationError as err:
            self.message_user(request, error_text(err), messages.ERROR)
            return
        self._report_offsite(request, queryset, result, done="Copied off-site")

    @admin.action(description="Fetch from off-site", permissions=["create"])
    def fetch_from_offsite(self, request: HttpRequest, queryset) -> None:
        try:
            result = backup_offsite_fetch_selected(backups=list(queryset))
        except ValidationError as err:
            self.message_user(request, error_text(err), messages.ERROR)
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
                "rotate-now/",
                self.admin_site.admin_view(require_POST(self.rotate_now_view)),
                name="backups_app_backup_rotate_now",
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

    def rotate_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """Apply retention now (a button, like Back up now: it acts on the whole catalogue,
        not on the ticked backups)."""
        if not self.has_create_permission(request):
            raise PermissionDenied
        try:
            deleted = backup_rotate()
        except BackupError as err:
            self.message_user(request, f"Rotation failed: {err}", messages.ERROR)
        else:
            for backup in deleted:
                self.log_change(request, backup, "Deleted by rotation")
            self.message_user(request, f"Rotation deleted {len(deleted)} backup(s).")
        return HttpResponseRedirect(reverse("admin:backups_app_backup_changelist"))

    def download_view(self, request: HttpRequest, backup_id: int) -> FileResponse:
        if not self.has_download_permission(request):
            raise PermissionDenied
        try:
            backup, dump = backup_dump_get(backup_id=backup_id)
        except Backup.DoesNotExist as err:
            raise Http404("No Backup matches the given query.") from err
        except ValidationError as err:
            self.message_user(request, err.messages[0], messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backups_app_backup_changelist"))
        self.log_change(request, backup, "Downloaded")
        return FileResponse(dump.open("rb"), as_attachment=True, filename=dump.name)
