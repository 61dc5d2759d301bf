"""Signups in Django admin: list, search, filters, date drill-down.

The CSV export of the selection is an action that backups_app adds (backups_app/admin/export.py):
this app knows nothing of backups beyond the signal that asks for one (waitlist/signals.py).
"""

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from waitlist.models import Signup


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    # Who, then when: the signup time comes before the free-text place, whose long values
    # would otherwise push it off a 1280 px screen.
    list_display = ["full_name", "email_address", "signed_up", "consent_given", "place"]
    list_display_links = ["full_name", "email_address"]
    search_fields = ["full_name", "email"]
    list_filter = ["consent", "created_at", "country"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    # Counting a million rows on every page view is wasted work; Django shows "Show all" instead.
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        # "Select signup to change" reads like a form step; this is the list of every signup.
        return super().changelist_view(
            request, extra_context={"title": "Signups", **(extra_context or {})}
        )

    # Short headers and cells: the fields' own labels ("consent to be contacted") and admin's
    # long date format ("Dec. 24, 2025, 11:59 p.m.") took half the table's width.
    @admin.display(description="consent", boolean=True, ordering="consent")
    def consent_given(self, signup: Signup) -> bool:
        return signup.consent

    @admin.display(description="email", ordering="email")
    def email_address(self, signup: Signup) -> str:
        # A long address may break before its @ rather than widen the whole table.
        local, at, domain = signup.email.rpartition("@")
        if not at:
            return signup.email
        return format_html("{}<wbr>@{}", local, domain)

    @admin.display(description="signed up", ordering="created_at")
    def signed_up(self, signup: Signup) -> str:
        # "24 Dec 2025 23:59", kept on one line by no-break spaces.
        return date_format(timezone.localtime(signup.created_at), "j\u00a0M\u00a0Y\u00a0H:i")

    @admin.display(description="city, country", ordering="country")
    def place(self, signup: Signup) -> str:
        return ", ".join(part for part in (signup.city, signup.country) if part) or "—"
