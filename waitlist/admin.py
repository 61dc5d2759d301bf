"""Signups in Django admin: list, search, filters, date drill-down, export of the selection."""

from django.contrib import admin
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from backups_app import files
from backups_app.alerts import logger
from backups_app.services.export import csv_lines, signup_csv_rows
from waitlist.models import Signup


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    list_display = ["full_name", "email", "country", "city", "consent", "created_at"]
    list_display_links = ["full_name", "email"]
    search_fields = ["full_name", "email"]
    list_filter = ["consent", "created_at", "country"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    # Counting a million rows on every page view is wasted work; Django shows "Show all" instead.
    show_full_result_count = False
    actions = ["export_selected_to_csv"]

    @admin.action(description="Export selected to CSV", permissions=["export"])
    def export_selected_to_csv(self, request: HttpRequest, queryset) -> StreamingHttpResponse:
        name = f"waitlist-export-{files.stamp_for(timezone.now())}.csv"
        logger.info(
            "admin export selected rows=%d by=%s", queryset.count(), request.user.get_username()
        )
        response = StreamingHttpResponse(
            csv_lines(signup_csv_rows(queryset)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups_app.export_signups")
