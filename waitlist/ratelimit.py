"""A per-client fixed-window rate limit kept in the shared Django cache.

The counter lives in the `default` cache (the database, or Redis), never in process memory, so
every web process and every host behind the load balancer counts against the same limit.
"""

import re
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

PERIODS = {"s": 1, "m": 60, "h": 3600}
RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*([smh])\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    period_seconds: int


def parse_rate(text: str) -> Rate | None:
    """Parse `N/s`, `N/m` or `N/h`; `0` (or `0/m`) means no limit and gives None."""
    if text.strip() == "0":
        return None
    match = RATE_PATTERN.match(text)
    if not match:
        raise ImproperlyConfigured(
            f"SIGNUP_RATE_LIMIT={text!r} is not a rate: use N/s, N/m or N/h (e.g. 100/m), "
            "or 0 to turn the limit off."
        )
    limit = int(match.group(1))
    if limit == 0:
        return None
    return Rate(limit=limit, period_seconds=PERIODS[match.group(2)])


def client_address(request: HttpRequest, *, trusted_proxies: int) -> str:
    """The client's address: REMOTE_ADDR, or the entry our own proxies added to X-Forwarded-For.

    Only the last `trusted_proxies` entries were written by proxies we run; anything to the left of
    them came from the client and could be forged to dodge the limit.
    """
    if trusted_proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= trusted_proxies:
            return forwarded[-trusted_proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_limit_hit(*, scope: str, client: str, rate: Rate) -> int:
    """Count one hit for `client`: 0 when allowed, else the seconds until its window resets."""
    now = time.time()
    window = int(now // rate.period_seconds)
    key = f"ratelimit:{scope}:{client}:{window}"
    cache.add(key, 0, timeout=rate.period_seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:
        # The entry expired or was culled between add() and incr(): start the window again.
        cache.set(key, 1, timeout=rate.period_seconds + 1)
        count = 1
    if count <= rate.limit:
        return 0
    return max(1, int(rate.period_seconds - (now % rate.period_seconds)) + 1)
