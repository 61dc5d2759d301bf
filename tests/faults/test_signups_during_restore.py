"""Fans signing up while a full restore runs: every one shown the thanks page is in the table
afterwards (docs/spec.md §4.5). Real HTTP against a live server, several clients at once."""

import datetime
import http.client
import re
import threading
import urllib.parse

import pytest
from django.utils import timezone

from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 6
BACKED_UP = 5_000
# Signups still being sent after the restore returned, so some land on each side of the swap.
AFTER_RESTORE = 20


class Fan(threading.Thread):
    """One browser: loads the form, then signs up again and again with new emails."""

    def __init__(self, url: str, number: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.number = number
        self.stop = stop
        self.accepted: list[str] = []
        self.refused: list[tuple[str, int]] = []
        self.after_stop = 0

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        connection.request("GET", "/")
        response = connection.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        sent = 0
        while self.after_stop < AFTER_RESTORE and sent < 2_000:
            if self.stop.is_set():
                self.after_stop += 1
            email = f"fan-{self.number}-{sent}@during.example.com"
            sent += 1
            body = urllib.parse.urlencode(
                {
                    "csrfmiddlewaretoken": token,
                    "full_name": f"Fan {self.number}-{sent}",
                    "email": email,
                    "consent": "on",
                    "website": "",
                }
            )
            connection.request(
                "POST",
                "/",
                body,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookie,
                    "Referer": f"http://{self.host}:{self.port}/",
                },
            )
            response = connection.getresponse()
            response.read()
            if response.status == 302:
                self.accepted.append(email)
            else:
                self.refused.append((email, response.status))


def test_every_fan_thanked_during_a_full_restore_is_kept(live_server, settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_COMPRESSION = "none"
    settings.SIGNUP_RATE_LIMIT = "0"
    start = timezone.now() - datetime.timedelta(days=1)
    Signup.objects.bulk_create(
        Signup(
            full_name=f"Backed-up fan {n}",
            email=f"backed-up-{n}@example.com",
            message="x" * 200,
            consent=True,
            created_at=start + datetime.timedelta(seconds=n),
        )
        for n in range(BACKED_UP)
    )
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="backed-up-7@example.com").delete()

    stop = threading.Event()
    fans = [Fan(live_server.url, n, stop) for n in range(CLIENTS)]
    for fan in fans:
        fan.start()
    try:
        while sum(len(fan.accepted) for fan in fans) < CLIENTS * 5:
            if not any(fan.is_alive() for fan in fans):
                break
            stop.wait(0.05)
        result = backup_restore(name=backup.name)
    finally:
        stop.set()
        for fan in fans:
            fan.join(timeout=120)

    accepted = [email for fan in fans for email in fan.accepted]
    refused = [item for fan in fans for item in fan.refused]
    assert refused == []
    stored = set(Signup.objects.values_list("email", flat=True))
    lost = [email for email in accepted if email not in stored]
    assert lost == [], f"{len(lost)} of {len(accepted)} thanked fans are gone"
    assert "backed-up-7@example.com" in stored  # the backup's signups came back too
    assert Signup.objects.count() == BACKED_UP + len(accepted)
    assert result.signups_kept > 0
