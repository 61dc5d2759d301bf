"""The waitlist signup, kept on the original `waitlist_responses` table, and the signup rate
limit's counters."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{5,32}$",
    message="Enter a phone number with digits, spaces, and optionally a leading +.",
)


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
