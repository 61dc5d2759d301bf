"""Writes of the signup app: signing up, and erasing a fan for good (§12), from the mail that
confirms a fan's request to the ledger."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from waitlist import conf, erasure_links
from waitlist.erasure import email_hash, email_hashes, lock_ledger
from waitlist.models import (
    Erasure,
    ErasureRequest,
    Signup,
    fitted,
    normalize_email,
)
from waitlist.selectors import signups_of

logger = logging.getLogger(__name__)


def signup_create(
    *,
    full_name: str,
    email: str,
    consent: bool,
    phone: str = "",
    city: str = "",
    country: str = "",
    message: str = "",
) -> tuple[Signup, bool]:
    """Save a signup; return it and whether it is new.

    An email already on the list (in any case) is not an error: the existing row is returned
    untouched and nothing is written, so a repeat visit never creates a second row.
    """
    email = normalize_email(email)
    try:
        with transaction.atomic():
            signup = Signup.objects.create(
                full_name=full_name,
                email=email,
                phone=phone,
                city=city,
                country=country,
                message=message,
                consent=consent,
            )
    except IntegrityError:
        existing = Signup.objects.filter(email__iexact=email).first()
        if existing is None:
            raise
        return existing, False
    return signup, True


@dataclass(frozen=True)
class ErasureResult:
    erasure: Erasure
    #: Signups of the address removed now (0 when it was not on the list).
    signups_erased: int
    #: The address had been erased before: this erasure only confirms it.
    erased_before: bool

    def summary(self) -> str:
        if self.signups_erased:
            text = f"Erased {self.signups_erased} signup(s)"
        else:
            text = "The address is not on the list; the erasure is recorded anyway"
        text += f" (erasure #{self.erasure.pk}): no restore, merge or journal replay brings it back"
        if self.erased_before:
            text += "; it had been erased before"
        return text + "."

    def as_dict(self) -> dict:
        return {
            "erasure": self.erasure.pk,
            "erased_at": self.erasure.erased_at.isoformat(),
            "signups_erased": self.signups_erased,
            "erased_before": self.erased_before,
        }


def signup_erase(*, email: str, erased_by: str, reason: str = "") -> ErasureResult:
    """Erase every signup of `email` and record the erasure in the ledger, in one transaction.

    An address that is not on the list is recorded all the same, so that a backup or the
    journal that still holds it can never bring it back. Erasing twice is harmless. The admin's
    history of those signups loses their names and addresses too, and any pending request of
    the fan's is settled. Raises ValidationError for a text that is not an email address.
    """
    normal = normalize_email(email)
    try:
        validate_email(normal)
    except ValidationError:
        raise ValidationError(f"{email!r} is not an email address.") from None
    hashes = email_hashes(normal)
    now = timezone.now()
    with transaction.atomic():
        lock_ledger(exclusive=True)  # first, so a merge or replay inserting meanwhile waits
        doomed = signups_of(email=normal)
        ids = [str(pk) for pk in doomed.values_list("pk", flat=True)]
        erased_before = Erasure.objects.filter(email_hash__in=hashes).exists()
        if ids:
            Signup.objects.filter(pk__in=ids).delete()
            LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(Signup), object_id__in=ids
            ).update(object_repr="(erased)", change_message="")
        erasure = Erasure.objects.create(
            email_hash=email_hash(normal),
            erased_at=now,
            erased_by=fitted(Erasure, "erased_by", erased_by),
            reason=fitted(Erasure, "reason", reason.strip()),
            signups_erased=len(ids),
        )
        ErasureRequest.objects.filter(
            email_hash__in=hashes, status=ErasureRequest.Status.PENDING
        ).update(
            status=ErasureRequest.Status.ERASED,
            email="",
            decided_at=now,
            decided_by=fitted(ErasureRequest, "decided_by", erased_by),
        )
    return ErasureResult(erasure=erasure, signups_erased=len(ids), erased_before=erased_before)


@dataclass(frozen=True)
class SignupsErasureResult:
    #: One erasure per distinct address of the selection that was erased.
    erased: list[ErasureResult]
    #: The distinct addresses that are not email addresses, left on the list.
    refused: list[str]

    @property
    def signups_erased(self) -> int:
        return sum(result.signups_erased for result in self.erased)


def signups_erase(
    *, signups: Iterable[Signup], erased_by: str, reason: str = ""
) -> SignupsErasureResult:
    """Erase the fans of the selected signups: each distinct address (as normalised) once,
    through signup_erase(), so every signup of it goes, listed or not, and the ledger, the
    admin history and any pending request are handled as everywhere else.

    Each address is erased in its own transaction: one that is not an email address (a row
    written behind the app's back) is refused and does not hold up the others.
    """
    addresses = sorted({normalize_email(signup.email) for signup in signups})
    erased, refused = [], []
    for address in addresses:
        try:
            erased.append(signup_erase(email=address, erased_by=erased_by, reason=reason))
        except ValidationError:
            refused.append(address)
    return SignupsErasureResult(erased=erased, refused=refused)


def erasure_link_send(*, email: str, confirm_url_for: Callable[[str], str]) -> None:
    """Mail `email` the link that confirms its erasure, whether or not it is on the list: the
    mail and the page after it must be the same either way, so nobody learns who signed up.

    `confirm_url_for(token)` gives the absolute URL of the confirmation page for a token (the
    caller knows the host). A failing mail server raises OSError or smtplib.SMTPException.
    """
    context = {
        "event_name": conf.event().display_name,
        "confirm_url": confirm_url_for(erasure_links.make_token(email)),
        "link_lifetime": erasure_links.link_lifetime(),
    }
    subject = render_to_string("waitlist/email/erasure_link_subject.txt", context)
    body = render_to_string("waitlist/email/erasure_link_body.txt", context)
    send_mail(" ".join(subject.split()), body, None, [normalize_email(email)])
    # Never the address: the log is not a list of who asked.
    logger.info("erasure link sent")


def erasure_request_create(*, email: str) -> ErasureRequest:
    """Record a fan's confirmed request to be erased, for staff to decide (one pending request
    per address: asking again returns the one waiting)."""
    normal = normalize_email(email)
    digest = email_hash(normal)
    with transaction.atomic():
        pending = (
            ErasureRequest.objects.select_for_update()
            .filter(email_hash=digest, status=ErasureRequest.Status.PENDING)
            .first()
        )
        if pending is not None:
            return pending
        return ErasureRequest.objects.create(email=normal, email_hash=digest)


def erasure_request_confirmed(*, email: str) -> ErasureRequest | ErasureResult:
    """A fan confirmed, from their mailbox, that they want to be erased: with
    WAITLIST_SELF_ERASURE on, erase them now; otherwise record the request for staff."""
    if conf.self_erasure():
        return signup_erase(
            email=email,
            erased_by="the fan (confirmed by email)",
            reason="asked on the site and confirmed from their mailbox",
        )
    return erasure_request_create(email=email)


def erasure_request_approve(*, erasure_request: ErasureRequest, decided_by: str) -> ErasureResult:
    """Carry out a pending request: erase the address it holds (which settles the request).
    Raises ValidationError for a request already decided."""
    _refuse_unless_pending(erasure_request)
    return signup_erase(
        email=erasure_request.email,
        erased_by=decided_by,
        reason=f"the fan's request #{erasure_request.pk}, confirmed from their mailbox",
    )


def erasure_request_decline(*, erasure_request: ErasureRequest, decided_by: str) -> None:
    """Decline a pending request; the address it held is forgotten, its hash stays. Raises
    ValidationError for a request already decided, here or meanwhile by someone else."""
    _refuse_unless_pending(erasure_request)
    declined = ErasureRequest.objects.filter(
        pk=erasure_request.pk, status=ErasureRequest.Status.PENDING
    ).update(
        status=ErasureRequest.Status.DECLINED,
        email="",
        decided_at=timezone.now(),
        decided_by=fitted(ErasureRequest, "decided_by", decided_by),
    )
    if not declined:
        raise ValidationError(f"{erasure_request} was already decided.")


def _refuse_unless_pending(erasure_request: ErasureRequest) -> None:
    # Only a pending request still holds the address that deciding it needs.
    if erasure_request.status != ErasureRequest.Status.PENDING or not erasure_request.email:
        raise ValidationError(f"{erasure_request} was already decided.")
