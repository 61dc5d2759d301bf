"""The record of CSV exports, read-only, and the "Export selected to CSV" action this app adds
to the signup list (so `waitlist` never imports `backups_app` for it)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest

from backups_app.humanize import human_size
from backups_app.models import Export
from backups_app.services import waitlist_export_csv
from waitlist.admin import SignupAdmin, ViewOnlyAdmin
from waitlist.models import Signup


@admin.register(Export)
class ExportAdmin(ViewOnlyAdmin, admin.ModelAdmin):
    """A record of exports taken: viewed, never edited."""

    list_display = ["name", "created_at", "row_count", "size", "triggered_by"]
    readonly_fields = [f.name for f in Export._meta.fields]

    @admin.display(description="size", ordering="size_bytes")
    def size(self, export: Export) -> str:
        return human_size(export.size_bytes)


@admin.action(description="Export selected to CSV", permissions=["export"])
def export_selected_to_csv(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> FileResponse:
    """Export the selected signups like every other export (a file in EXPORT_DIR, an Export
    row, rotation) and download that file."""
    export = waitlist_export_csv(signups=queryset, triggered_by=request.user.get_username())
    modeladmin.log_addition(
        request, export, f"Exported {export.row_count} selected signup(s) to CSV"
    )
    # FileResponse streams and closes it; opened now, the download survives a rotation by
    # later exports (an open file outlives its unlink).
    return FileResponse(
        open(export.path, "rb"),
        as_attachment=True,
        filename=export.name,
        content_type="text/csv; charset=utf-8",
    )


class SignupExportAdmin(SignupAdmin):
    """The signup list as `waitlist` defines it, with this app's export action."""

    actions = [*SignupAdmin.actions, export_selected_to_csv]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.export_signups")


# Re-registered the way django.contrib.auth's UserAdmin is extended: waitlist's admin stays
# ignorant of backups, and imports first (INSTALLED_APPS lists it first; the import above
# makes sure of it).
admin.site.unregister(Signup)
admin.site.register(Signup, SignupExportAdmin)
