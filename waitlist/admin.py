"""Signups in Django admin: list, search, filters, date drill-down; erasing fans (§12), the
erasure ledger and the fans' erasure requests.

The CSV export of the selection is an action that backups_app adds (backups_app/admin/export.py):
this app knows nothing of backups beyond the signal that asks for one (waitlist/signals.py).
Erasing and deciding are done by waitlist/services.py, the counts read by waitlist/selectors.py;
the admin only asks, confirms and reports.
"""

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from waitlist.models import Erasure, ErasureRequest, Signup
from waitlist.selectors import erasure_request_list
from waitlist.services import erasure_request_approve, erasure_request_decline, signups_erase

ERASE_PERMISSION = "waitlist.erase_signup"


def erased_by(request: HttpRequest) -> str:
    """Who the ledger says erased: the staff account, marked as acting in admin."""
    return f"admin:{request.user.get_username()}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class EraseForm(forms.Form):
    """The reason asked for on the confirmation page. It goes into the ledger, which must hold
    no personal data, so the names and addresses being erased are refused in it."""

    reason = forms.CharField(
        label="Reason",
        max_length=Erasure._meta.get_field("reason").max_length,
        help_text=(
            "Why they are erased, e.g. “asked by email on 3 March”. No names or addresses: "
            "the ledger must hold no personal data."
        ),
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
    )

    def __init__(self, *args, signups: list[Signup], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.signups = signups

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if "@" in reason:
            raise ValidationError("Leave out the address: the ledger must hold no personal data.")
        for signup in self.signups:
            name = signup.full_name.strip()
            if name and re.search(rf"\b{re.escape(name)}\b", reason, re.IGNORECASE):
                raise ValidationError("Leave out the name: the ledger must hold no personal data.")
        return reason


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
    # backups_app's SignupExportAdmin extends this list, so the action carries over.
    actions = ["erase_selected"]

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

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ERASE_PERMISSION)

    @admin.action(description="Erase…", permissions=["erase"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Erase the selected fans for good, after a page that names them and asks why.

        Like Django's delete confirmation: the first POST (from the list) shows the page, the
        second (with `post`) erases, through signups_erase(); the history records each Erasure,
        never the name or address.
        """
        signups = list(queryset.order_by("full_name", "email", "pk"))
        form = EraseForm(request.POST if request.POST.get("post") else None, signups=signups)
        if not form.is_valid():
            return self._erase_confirmation(request, signups, form)
        result = signups_erase(
            signups=signups, erased_by=erased_by(request), reason=form.cleaned_data["reason"]
        )
        for erased in result.erased:
            self.log_addition(
                request,
                erased.erasure,
                f"Erased {plural(erased.signups_erased, 'signup')} from the signup list",
            )
        self.message_user(
            request,
            f"Erased {plural(len(result.erased), 'fan')} "
            f"({plural(result.signups_erased, 'signup')}). "
            "No restore, merge or journal replay brings them back.",
            messages.SUCCESS,
        )
        if refused := len(result.refused):
            self.message_user(
                request,
                f"{refused} selected {'address is' if refused == 1 else 'addresses are'} not "
                "valid and could not be erased: correct it on the signup, then erase again.",
                messages.ERROR,
            )
        return None  # back to the list

    def _erase_confirmation(
        self, request: HttpRequest, signups: list[Signup], form: EraseForm
    ) -> TemplateResponse:
        opts = self.model._meta
        return TemplateResponse(
            request,
            "admin/waitlist/signup/erase_selected_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Erase {plural(len(signups), 'signup')} for good?",
                "opts": opts,
                "signups": signups,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )


class ViewOnlyAdmin:
    """For records the services write (ledgers, exports): viewed in admin, never added, edited
    or deleted by hand there. Put before ModelAdmin in the bases."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ErasePermissionViews(ViewOnlyAdmin):
    """Staff who may erase may also read the ledger and the requests, even without the
    models' own view permissions: deciding a request means seeing it."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(ERASE_PERMISSION)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ERASE_PERMISSION)


@admin.register(Erasure)
class ErasureAdmin(ErasePermissionViews, admin.ModelAdmin):
    """The ledger, read-only: it is what keeps erased fans out of every restore, so a row
    edited or deleted by hand would let one come back."""

    list_display = ["erased_at", "erased_by", "reason", "signups_erased", "short_hash"]
    list_display_links = ["erased_at"]
    search_fields = ["reason", "erased_by"]
    list_filter = ["erased_at"]
    date_hierarchy = "erased_at"
    readonly_fields = [field.name for field in Erasure._meta.fields]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, extra_context={"title": "Erasure ledger", **(extra_context or {})}
        )

    @admin.display(description="address hash")
    def short_hash(self, erasure: Erasure) -> str:
        # Enough to tell two entries of the same address apart, short enough to read.
        return erasure.email_hash[:12]


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ErasePermissionViews, admin.ModelAdmin):
    """The fans' confirmed requests, pending first; staff approve (erase) or decline them."""

    list_display = ["requested_at", "status", "address", "on_the_list", "decided_by"]
    list_filter = ["status", "requested_at"]
    readonly_fields = [field.name for field in ErasureRequest._meta.fields]
    actions = ["approve", "decline"]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, extra_context={"title": "Erasure requests", **(extra_context or {})}
        )

    def get_ordering(self, request: HttpRequest) -> list:
        pending_first = Case(
            When(status=ErasureRequest.Status.PENDING, then=Value(0)), default=Value(1)
        )
        return [pending_first.asc(), "-requested_at", "-id"]

    @admin.display(description="email")
    def address(self, erasure_request: ErasureRequest) -> str:
        # Only a pending request still holds it; a decided one keeps the hash alone.
        if erasure_request.status == ErasureRequest.Status.PENDING and erasure_request.email:
            return erasure_request.email
        return "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return erasure_request_list(queryset=super().get_queryset(request))

    @admin.display(description="on the list now")
    def on_the_list(self, erasure_request: ErasureRequest) -> str:
        # Counted as signup_erase() matches them, so the count is what approving erases.
        count = erasure_request.signups_on_list
        if count is None:  # decided: the address is gone
            return "—"
        return f"on the list: {count} signup(s)" if count else "not on the list"

    @admin.action(description="Erase (approve)", permissions=["erase"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Carry out the selected pending requests, each through erasure_request_approve()."""
        erased, skipped = self._decide(request, queryset, erasure_request_approve)
        for erasure_request, result in erased:
            message = f"Erased {plural(result.signups_erased, 'signup')} on {erasure_request}"
            self.log_addition(request, result.erasure, message)
        self._report(request, f"Erased {plural(len(erased), 'fan')} on their request", skipped)

    @admin.action(description="Decline", permissions=["erase"])
    def decline(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Decline the selected pending requests, each through erasure_request_decline(); their
        addresses are forgotten."""
        declined, skipped = self._decide(request, queryset, erasure_request_decline)
        for erasure_request, _ in declined:
            self.log_change(request, erasure_request, "Declined")
        self._report(request, f"Declined {plural(len(declined), 'request')}", skipped)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet, decide: Callable[..., Any]
    ) -> tuple[list[tuple[ErasureRequest, Any]], int]:
        """Each selected request through `decide` (a service): those decided with its result,
        and how many it refused as already decided."""
        decided, skipped = [], 0
        for erasure_request in queryset:
            try:
                result = decide(erasure_request=erasure_request, decided_by=erased_by(request))
            except ValidationError:
                skipped += 1
            else:
                decided.append((erasure_request, result))
        return decided, skipped

    def _report(self, request: HttpRequest, text: str, skipped: int) -> None:
        if skipped:
            verb = "was" if skipped == 1 else "were"
            text += f"; {plural(skipped, 'request')} {verb} already decided and left as is"
        self.message_user(request, text + ".", messages.SUCCESS)
