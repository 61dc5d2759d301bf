"""Settings of the signup app, read when used so tests and operators can change them."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from waitlist.ratelimit import Rate, parse_rate


def signup_rate_limit() -> Rate | None:
    """The per-client signup rate, or None when `SIGNUP_RATE_LIMIT` is 0 (no limit)."""
    return parse_rate(getattr(settings, "SIGNUP_RATE_LIMIT", "100/m"))


def trusted_proxy_count() -> int:
    """How many reverse proxies in front of the site append to X-Forwarded-For."""
    return int(getattr(settings, "SIGNUP_TRUSTED_PROXY_COUNT", 0))


def erasure_link_seconds() -> int:
    """How long the link in the "remove me" mail works (`WAITLIST_ERASURE_LINK_SECONDS`)."""
    return int(getattr(settings, "WAITLIST_ERASURE_LINK_SECONDS", 3 * 86400))


def self_erasure() -> bool:
    """Whether a fan's confirmed request erases at once (`WAITLIST_SELF_ERASURE`) or waits
    for staff."""
    return bool(getattr(settings, "WAITLIST_SELF_ERASURE", False))


DEFAULT_EVENT_NAME = "Our next show"
DEFAULT_EVENT_TAGLINE = "Be the first to hear when tickets open."


@dataclass(frozen=True)
class Event:
    """The event the waitlist is for, as the operator describes it (`WAITLIST_EVENT_*`)."""

    name: str
    tagline: str
    details: str
    image_url: str

    @property
    def display_name(self) -> str:
        """The name pages show: the default while the setting is empty (a system check error)."""
        return self.name or DEFAULT_EVENT_NAME


def event() -> Event:
    """The event's name, tagline, date/venue line and image URL, each trimmed ("" when unset)."""
    return Event(
        name=str(getattr(settings, "WAITLIST_EVENT_NAME", DEFAULT_EVENT_NAME)).strip(),
        tagline=str(getattr(settings, "WAITLIST_EVENT_TAGLINE", DEFAULT_EVENT_TAGLINE)).strip(),
        details=str(getattr(settings, "WAITLIST_EVENT_DETAILS", "")).strip(),
        image_url=str(getattr(settings, "WAITLIST_EVENT_IMAGE_URL", "")).strip(),
    )


def is_event_image_url(url: str) -> bool:
    """True for an absolute http(s) URL, or a path on this site ("/media/poster.jpg").

    "//host/..." and "/\\host/..." are other hosts to a browser, not paths on this one.
    """
    if not url or any(char.isspace() for char in url):
        return False
    if url.startswith("/"):
        return not url.startswith(("//", "/\\"))
    try:
        parts = urlsplit(url)
        return parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return False
