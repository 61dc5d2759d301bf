"""The site under gunicorn on the test database, fans signing up over real HTTP, and what the
journal on disk holds."""

import http.client
import re
import secrets
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass

import pytest
from django.db import connection

from backups_app import journal
from backups_app.keys import signing_keyring
from tests.subprocesses import database_url, free_port, start_gunicorn, wait_until_serving
from tests.waiting import wait_until

SIGNING_KEY = "journal-tests-" + "k" * 32


@dataclass
class Site:
    url: str
    server: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def worker_pids(self) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.server.pid)], capture_output=True, text=True
        ).stdout.split()
        return [int(pid) for pid in found]


@pytest.fixture
def start_site(transactional_db, backup_dir, settings, collected_static):
    """Start gunicorn (production settings, DEBUG off) on the test database; stopped after."""
    settings.BACKUP_SIGNING_KEY = SIGNING_KEY  # the child's key, so this process reads its journal
    started = []

    def start(*, workers: int = 3) -> Site:
        port = free_port()
        server = start_gunicorn(
            port=port,
            workers=workers,
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DATABASE_URL=database_url(),
            STATIC_ROOT=str(collected_static),
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_SECURE_COOKIES="0",
            BACKUP_DIR=str(backup_dir),
            BACKUP_SIGNING_KEY=SIGNING_KEY,
            SIGNUP_RATE_LIMIT="0",
        )
        started.append(server)
        site = Site(url=f"http://127.0.0.1:{port}", server=server)
        wait_until_serving(server, port=port)
        wait_until(
            lambda: len(site.worker_pids()) >= workers,
            what=f"{workers} gunicorn workers",
            seconds=30,
        )
        return site

    yield start
    for server in started:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


class Fan:
    """One browser on one keep-alive connection: the form once, then signups."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)
        self.connection.request("GET", "/")
        response = self.connection.getresponse()
        page = response.read().decode()
        self.cookie = response.getheader("Set-Cookie").split(";")[0]
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def sign_up(self, email: str, **fields: str) -> int:
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": self.token,
                "full_name": fields.pop("full_name", f"Fan {email}"),
                "email": email,
                "consent": "on",
                "website": "",
                **fields,
            }
        )
        self.connection.request(
            "POST",
            "/",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": self.cookie,
                "Referer": self.site.url + "/",
            },
        )
        response = self.connection.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.connection.close()


# --- what the journal on disk holds ---------------------------------------------------------


def segments(backup_dir):
    return [backup_dir / "journal" / name for name in journal.segment_names(backup_dir / "journal")]


def entries(backup_dir):
    keyring = signing_keyring()
    mac_keys = {kid: journal.mac_key(key) for kid, key in keyring.verification_keys.items()}
    found = []
    for path in segments(backup_dir):
        segment = journal.read_segment(path, mac_keys=mac_keys, encryption_keys={})
        assert segment.damage == []
        found.extend(segment.entries)
    return found


def delete_behind_the_apps_back(*ids):
    """What a psql session does: no signal, no journal entry."""
    with connection.cursor() as cursor:
        if not ids:
            cursor.execute("DELETE FROM waitlist_responses")
        for signup_id in ids:
            cursor.execute("DELETE FROM waitlist_responses WHERE id = %s", [signup_id])
