"""A per-client fixed-window rate limit counted where every process shares it.

The counter is never in process memory, so every web process and every host behind the load
balancer counts against the same limit. With a Redis or Memcached `default` cache it lives
there, whose increment is atomic; otherwise (the database cache is the default) it lives in the
database, counted by one upsert per hit. Django's DatabaseCache.incr() is a read then a write,
so concurrent requests lost increments and let more than the limit through.
"""

import datetime
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import BaseCache, cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.http import HttpRequest
from django.utils import timezone

# Cache backends whose incr() is one atomic operation on a server every process shares.
ATOMIC_INCR_CACHE_BACKENDS = {
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django_redis.cache.RedisCache",
}

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
    """Count one hit for `client`: 0 when allowed, else the seconds until its window resets.

    Exact under concurrency: of any number of simultaneous hits in one window, at most
    `rate.limit` are allowed.
    """
    now = time.time()
    window = int(now // rate.period_seconds)
    # Addresses are short; the bound only keeps a malformed one from overflowing the key.
    key = f"ratelimit:{scope}:{client[:100]}:{window}"
    expires_at = (window + 1) * rate.period_seconds
    if settings.CACHES["default"]["BACKEND"] in ATOMIC_INCR_CACHE_BACKENDS:
        count = count_in_cache(cache, key=key, timeout=expires_at - now + 1)
    else:
        count = count_in_database(key=key, expires_at=expires_at)
    if count <= rate.limit:
        return 0
    return max(1, int(rate.period_seconds - (now % rate.period_seconds)) + 1)


def count_in_cache(cache: BaseCache, *, key: str, timeout: float) -> int:
    """Add one to the counter `key` in a cache whose incr() is atomic; return the new count."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:
        # The entry expired or was evicted between add() and incr(): this hit opens it again.
        cache.add(key, 1, timeout=timeout)
        return 1


def count_in_database(*, key: str, expires_at: float) -> int:
    """Add one to the counter `key` in one atomic statement; return the new count.

    INSERT ... ON CONFLICT DO UPDATE ... RETURNING (PostgreSQL, SQLite >= 3.35) either creates the
    row or increments it under the row's lock, so no two hits ever read the same count. The hit
    that opens a window also deletes windows that have passed, which keeps the table small.
    Called in autocommit, as views are, the row lock is held only for the statement.
    """
    from waitlist.models import RateLimitWindow

    connection = connections[router.db_for_write(RateLimitWindow)]
    table = connection.ops.quote_name(RateLimitWindow._meta.db_table)
    key_column, hits, expires = (
        connection.ops.quote_name(RateLimitWindow._meta.get_field(name).column)
        for name in ("key", "hits", "expires_at")
    )
    ends = datetime.datetime.fromtimestamp(expires_at, tz=datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {hits}, {expires}) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT ({key_column}) DO UPDATE SET {hits} = {table}.{hits} + 1 "
            f"RETURNING {hits}",
            [key, connection.ops.adapt_datetimefield_value(ends)],
        )
        (count,) = cursor.fetchone()
    if count == 1:
        RateLimitWindow.objects.using(connection.alias).filter(
            expires_at__lte=timezone.now()
        ).delete()
    return count
