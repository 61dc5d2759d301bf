"""Signups in Django admin: list, search, filters and date drill-down."""

from django.contrib import admin

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
