"""Signups in Django admin: list, search, filters, date drill-down.

The CSV export of the selection is an action that backups_app adds (backups_app/admin/export.py):
this app knows nothing of backups beyond the signal that asks for one (waitlist/signals.py).
"""

import datetime

from django.contrib import admin

from waitlist.models import Signup


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    list_display = ["full_name", "email", "country", "city", "consent_given", "signed_up"]
    list_display_links = ["full_name", "email"]
    search_fields = ["full_name", "email"]
    list_filter = ["consent", "created_at", "country"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    # Counting a million rows on every page view is wasted work; Django shows "Show all" instead.
    show_full_result_count = False

    # Short headers: the fields' own labels ("consent to be contacted") pushed the signup time
    # off a 1280 px screen.
    @admin.display(description="consent", boolean=True, ordering="consent")
    def consent_given(self, signup: Signup) -> bool:
        return signup.consent

    @admin.display(description="signed up", ordering="created_at")
    def signed_up(self, signup: Signup) -> datetime.datetime:
        return signup.created_at
