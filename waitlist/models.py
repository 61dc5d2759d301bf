"""The waitlist signup, kept on the original `waitlist_responses` table; the erasure ledger and
the fans' erasure requests (§12); and the signup rate limit's counters."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{5,32}$",
    message="Enter a phone number with digits, spaces, and optionally a leading +.",
)


def fitted(model: type[models.Model], field: str, value: str) -> str:
    """`value` cut to what `model.field` holds (its max_length), so text from a manifest, an
    error or a user never fails a save for being long; the limit is read, not copied."""
    return value[: model._meta.get_field(field).max_length]


def normalize_email(email: str) -> str:
    """Emails are stored trimmed and lower-cased, so one person has one row whatever the case."""
    return email.strip().lower()


class Signup(models.Model):
    full_name = models.CharField("full name", max_length=200)
    email = models.EmailField("email", max_length=254)
    phone = models.CharField("phone", max_length=32, blank=True, validators=[phone_validator])
    city = models.CharField("city", max_length=100, blank=True)
    country = models.CharField("country", max_length=100, blank=True)
    message = models.CharField("message", max_length=1000, blank=True)
    consent = models.BooleanField("consent to be contacted", default=False)
    created_at = models.DateTimeField("signed up at", default=timezone.now, db_index=True)

    class Meta:
        db_table = "waitlist_responses"
        ordering = ["-created_at", "-id"]
        verbose_name = "signup"
        verbose_name_plural = "signups"
        permissions = [("erase_signup", "Can erase a fan's data for good")]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="waitlist_responses_email_ci_unique",
                violation_error_message="A signup with this email already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class Erasure(models.Model):
    """One erasure of a fan's data: who asked for it and why, and no personal data at all.

    The address is kept only as a keyed hash (waitlist/erasure.py), so the ledger can say that a
    row coming back from a backup, a merge or the journal belongs to an erased fan, yet nobody
    holding the database alone can tell who was erased. Every path that brings signups back
    removes those of an address erased at or after they signed up; a fan who signs up again
    after their erasure is a new signup. Kept across restores (the union of the live ledger and
    the backup's) and backed up with everything else.
    """

    email_hash = models.CharField("keyed hash of the address", max_length=64, db_index=True)
    erased_at = models.DateTimeField("erased at", default=timezone.now, db_index=True)
    erased_by = models.CharField("erased by", max_length=150)
    reason = models.CharField(
        "reason",
        max_length=500,
        blank=True,
        help_text="Why, without names or addresses: the ledger must hold no personal data.",
    )
    signups_erased = models.PositiveIntegerField("signups removed", default=0)

    class Meta:
        db_table = "waitlist_erasure"
        ordering = ["-erased_at", "-id"]
        verbose_name = "erasure"
        verbose_name_plural = "erasure ledger"

    def __str__(self) -> str:
        return f"Erasure #{self.pk}"


class ErasureRequest(models.Model):
    """A fan's own request, confirmed from their mailbox, to be erased (§12).

    The address is kept while staff decide, so they can see whom it concerns; once decided only
    its keyed hash remains.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for staff"
        ERASED = "erased", "erased"
        DECLINED = "declined", "declined"

    email = models.EmailField("email", max_length=254, blank=True)
    email_hash = models.CharField("keyed hash of the address", max_length=64, db_index=True)
    requested_at = models.DateTimeField("requested at", default=timezone.now, db_index=True)
    status = models.CharField(
        "status", max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    decided_at = models.DateTimeField("decided at", null=True, blank=True)
    decided_by = models.CharField("decided by", max_length=150, blank=True)

    class Meta:
        db_table = "waitlist_erasure_request"
        ordering = ["-requested_at", "-id"]
        verbose_name = "erasure request"
        verbose_name_plural = "erasure requests"

    def __str__(self) -> str:
        return f"Erasure request #{self.pk}"


class RateLimitWindow(models.Model):
    """How many hits one client made in one fixed window of a rate limit (waitlist/ratelimit.py).

    Counted by one upsert per hit, so concurrent processes never lose an increment; rows are
    deleted once their window has passed.
    """

    key = models.CharField(max_length=255, primary_key=True)
    hits = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "waitlist_ratelimit_window"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"
