"""Writes of the signup app."""

from django.db import IntegrityError, transaction

from waitlist.models import Signup, normalize_email


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
