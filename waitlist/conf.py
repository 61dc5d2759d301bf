"""Settings of the signup app, read when used so tests and operators can change them."""

from django.conf import settings

from waitlist.ratelimit import Rate, parse_rate


def signup_rate_limit() -> Rate | None:
    """The per-client signup rate, or None when `SIGNUP_RATE_LIMIT` is 0 (no limit)."""
    return parse_rate(getattr(settings, "SIGNUP_RATE_LIMIT", "100/m"))


def trusted_proxy_count() -> int:
    """How many reverse proxies in front of the site append to X-Forwarded-For."""
    return int(getattr(settings, "SIGNUP_TRUSTED_PROXY_COUNT", 0))
