"""The link in the "remove me" mail: the address in an encrypted, authenticated, expiring token.

URLs end up in access logs, proxies and browser histories, so the address is never in one in
clear. Fernet encrypts and signs it and stamps the time, so a link cannot be read, forged,
altered or used after `WAITLIST_ERASURE_LINK_SECONDS`. The keys are derived from SECRET_KEY and
SECRET_KEY_FALLBACKS (never their own bytes): rotating the secret key keeps links already sent
working while the old key stays a fallback.
"""

import base64
import datetime
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timeuntil

from waitlist import conf
from waitlist.models import normalize_email

KEY_LABEL = b"waitlist-site erasure link v1"


class BadErasureLink(Exception):
    """The token is not one of ours, was altered, or has expired: ask for a new link."""


def link_fernet() -> MultiFernet:
    """Encrypts under the current SECRET_KEY; decrypts under it and every fallback."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_derived_key(str(secret))) for secret in secrets if secret])


def _derived_key(secret: str) -> bytes:
    # An HMAC of a fixed label, so this key says nothing of the secret key or its other uses.
    digest = hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


def make_token(email: str) -> str:
    """The URL-safe token that carries the normalised address (and the time it was made)."""
    return link_fernet().encrypt(normalize_email(email).encode()).decode("ascii")


def email_from_token(token: str) -> str:
    """The address a token carries; BadErasureLink when it is forged, altered or expired."""
    try:
        payload = link_fernet().decrypt(token.encode("ascii"), ttl=conf.erasure_link_seconds())
        return payload.decode()
    except (InvalidToken, UnicodeError):
        raise BadErasureLink("This link is not valid or has expired.") from None


def link_lifetime() -> str:
    """How long a link works, in words for the fan ("3 days"), with plain spaces: Django's
    no-break ones would show as odd characters in some mail programs."""
    now = timezone.now()
    text = timeuntil(now + datetime.timedelta(seconds=conf.erasure_link_seconds()), now)
    return text.replace("\xa0", " ")
