"""The record of CSV exports, read-only."""

from django.contrib import admin
from django.http import HttpRequest

from backups_app.models import Export


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
