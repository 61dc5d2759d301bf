"""The signup rate limit: parsing its setting, finding the client's address, and counting
exactly under concurrent requests."""

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from waitlist.models import RateLimitWindow, Signup
from waitlist.ratelimit import (
    Rate,
    client_address,
    count_in_cache,
    parse_rate,
    rate_limit_hit,
)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/m", Rate(limit=100, period_seconds=60)),
        ("5/s", Rate(limit=5, period_seconds=1)),
        (" 2000 / h ", Rate(limit=2000, period_seconds=3600)),
        ("0", None),
        ("0/m", None),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "100", "100/d", "-1/m", "many/m", "1.5/s"])
def test_parse_rate_refuses_nonsense_with_a_clear_message(text):
    with pytest.raises(ImproperlyConfigured, match="use N/s, N/m or N/h"):
        parse_rate(text)


def test_client_address_without_proxies_ignores_forwarded_header():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )

    assert client_address(request, trusted_proxies=0) == "203.0.113.7"


def test_client_address_takes_the_entry_written_by_our_last_proxy():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.2"
    )

    assert client_address(request, trusted_proxies=2) == "203.0.113.7"


def test_client_address_falls_back_when_the_header_is_short():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.3")

    assert client_address(request, trusted_proxies=1) == "10.0.0.3"


CLIENTS = 16
POSTS_PER_CLIENT = 3


def burst_from(address: str, *, signup_data: dict[str, str]) -> list[int]:
    """Statuses of CLIENTS threads posting the signup form at once from one address.

    Each thread has its own Client and, Django connections being per thread, its own database
    connection: sixteen web processes answering one venue's Wi-Fi at the same moment.
    """
    start = threading.Barrier(CLIENTS)

    def post_signups(number: int) -> list[int]:
        try:
            browser = Client()
            start.wait(timeout=10)
            return [
                browser.post(
                    "/",
                    {**signup_data, "email": f"fan-{address}-{number}-{n}@example.com"},
                    REMOTE_ADDR=address,
                ).status_code
                for n in range(POSTS_PER_CLIENT)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [
            status for statuses in pool.map(post_signups, range(CLIENTS)) for status in statuses
        ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_from_one_address_never_pass_the_limit(settings, signup_data):
    settings.SIGNUP_RATE_LIMIT = "20/h"
    # A burst that straddles the turn of the hour counts in two windows; try once more then.
    for attempt in range(2):
        window = int(time.time() // 3600)
        address = f"203.0.113.{attempt + 1}"
        statuses = burst_from(address, signup_data=signup_data)
        if int(time.time() // 3600) == window:
            break

    posted = CLIENTS * POSTS_PER_CLIENT
    assert statuses.count(302) == 20
    assert statuses.count(429) == posted - 20
    assert RateLimitWindow.objects.get(key__contains=f":{address}:").hits == posted
    assert Signup.objects.filter(email__startswith=f"fan-{address}-").count() == 20


@pytest.mark.django_db
def test_opening_a_window_deletes_the_windows_that_have_passed():
    now = timezone.now()
    RateLimitWindow.objects.create(
        key="ratelimit:signup:198.51.100.1:1", hits=7, expires_at=now - datetime.timedelta(hours=1)
    )
    RateLimitWindow.objects.create(
        key="ratelimit:signup:198.51.100.2:2", hits=3, expires_at=now + datetime.timedelta(hours=1)
    )

    rate_limit_hit(scope="signup", client="203.0.113.7", rate=Rate(limit=5, period_seconds=60))

    keys = set(RateLimitWindow.objects.values_list("key", flat=True))
    assert "ratelimit:signup:198.51.100.1:1" not in keys
    assert "ratelimit:signup:198.51.100.2:2" in keys
    assert any(key.startswith("ratelimit:signup:203.0.113.7:") for key in keys)


def test_counting_in_a_cache_with_an_atomic_incr_gives_every_hit_its_own_count():
    # Redis and Memcached increment on the server; the local-memory cache under a lock, which
    # lets this test run without a server.
    shared = LocMemCache("ratelimit-test", {})

    def hit(_: int) -> int:
        return count_in_cache(shared, key="ratelimit:signup:203.0.113.7:1", timeout=60)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        counts = list(pool.map(hit, range(200)))

    assert sorted(counts) == list(range(1, 201))


@pytest.mark.django_db(transaction=True)
def test_windows_deleted_as_they_pass_do_not_trip_the_backup_shrink_guard(settings, tmp_path):
    from backups_app.models import Backup
    from backups_app.services import backup_create

    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_COMPRESSION = "none"
    passed = timezone.now() - datetime.timedelta(hours=1)
    RateLimitWindow.objects.bulk_create(
        RateLimitWindow(key=f"ratelimit:signup:198.51.100.{n}:1", hits=1, expires_at=passed)
        for n in range(10)
    )
    before = backup_create(kind=Backup.Kind.MANUAL)
    rate_limit_hit(scope="signup", client="203.0.113.7", rate=Rate(limit=5, period_seconds=60))

    after = backup_create(kind=Backup.Kind.MANUAL)

    assert after.row_counts["waitlist_ratelimit_window"] == 1
    assert not after.shrink_detected
    before.refresh_from_db()
    assert not before.pinned
