"""Reads of the signup app that change nothing: whose signups an address has, and the fans'
erasure requests as the admin lists them."""

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Lower, Trim

from waitlist.models import ErasureRequest, Signup, normalize_email


def signups_of(*, email: str) -> QuerySet[Signup]:
    """Every signup of the address, however its row was written: trimmed and lower-cased in SQL
    too, since a row put in behind the app's back may be neither (a full scan, for erasure and
    its admin only)."""
    return _signups_with_lowered_address().filter(lowered=normalize_email(email))


def _signups_with_lowered_address() -> QuerySet[Signup]:
    # Trim before lower, as normalize_email() does in Python.
    return Signup.objects.annotate(lowered=Lower(Trim("email")))


def erasure_request_list(*, queryset: QuerySet[ErasureRequest]) -> QuerySet[ErasureRequest]:
    """`queryset` with `signups_on_list` on each request: for a pending one, how many signups
    its address has now, counted as signups_of() counts them (so what approving erases);
    None for a decided one, which holds no address. One query for the whole list."""
    # The request's address is stored normalised (erasure_request_create), like the argument
    # signups_of() normalises in Python.
    count = (
        _signups_with_lowered_address()
        .filter(lowered=OuterRef("email"))
        .order_by()
        .values("lowered")
        .annotate(signups=Count("pk"))
        .values("signups")
    )
    return queryset.annotate(
        signups_on_list=Case(
            When(
                Q(status=ErasureRequest.Status.PENDING) & ~Q(email=""),
                then=Coalesce(Subquery(count), Value(0)),
            ),
            default=None,
            output_field=IntegerField(),
        )
    )
