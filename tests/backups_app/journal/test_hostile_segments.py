"""Files planted in BACKUP_DIR/journal (an untrusted folder) never break replay, backups or
/health/ (§8.2, §11)."""

import contextlib
import os
import threading
import time

import pytest
from django.db import connection

from backups_app.services import backup_create
from backups_app.services.journal import journal_close, journal_replay, journal_status
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

PLANTED = "segment-20000101T000000000000Z-evil-1-deadbeef.jsonl"


def lose_every_signup() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")


def test_a_deeply_nested_json_header_is_damage_not_a_crash(backup_dir):
    """_read_header catches ValueError only: json.loads of "[[[[…" raises RecursionError, which
    escapes journal_replay (and restore's _replay_journal, which catches JournalError and
    DatabaseError only). No signup is replayed at all, though every good segment is intact."""
    SignupFactory.create_batch(2)
    journal_close()
    (backup_dir / "journal" / PLANTED).write_bytes(b"0" * 32 + b" " + b"[" * 200_000 + b"\n")
    lose_every_signup()

    report = journal_replay()

    assert report.inserted == 2
    assert any(PLANTED in str(damage) for damage in report.damage)


def test_a_directory_named_like_a_segment_does_not_stop_every_backup(backup_dir):
    """journal_position() calls complete_size() and catches FileNotFoundError only: a folder
    named segment-….jsonl (IsADirectoryError) makes every backup fail from then on."""
    SignupFactory()
    (backup_dir / "journal" / PLANTED).mkdir()

    backup = backup_create(kind="manual")

    assert backup.status == "succeeded"


def _unblock_fifo_after(path, seconds: float) -> threading.Thread:
    """Open the FIFO's writing end after `seconds` (so a reader blocked in open() goes on)."""

    def run():
        deadline = time.monotonic() + seconds + 30
        time.sleep(seconds)
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader (yet)
                time.sleep(0.05)
                continue
            os.close(fd)
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_fifo_named_like_a_segment_does_not_hang_health(backup_dir):
    """journal_status() (every /health/ request) opens each segment with open(): a FIFO planted
    under a segment's name blocks it until someone writes to the FIFO, forever in practice.
    The same blocking open() is in complete_size() (backup_create, under the backup lock),
    is_active() and read_segment() (replay after every restore)."""
    SignupFactory()
    fifo = backup_dir / "journal" / PLANTED
    os.mkfifo(fifo)
    _unblock_fifo_after(fifo, 3)  # so that the test itself ends

    started = time.monotonic()
    journal_status()
    elapsed = time.monotonic() - started

    assert elapsed < 1.5, f"journal_status() blocked {elapsed:.1f} s on a planted FIFO"


def test_a_fifo_named_like_a_segment_does_not_hang_a_backup(backup_dir):
    SignupFactory()
    fifo = backup_dir / "journal" / PLANTED
    os.mkfifo(fifo)
    _unblock_fifo_after(fifo, 3)

    started = time.monotonic()
    with contextlib.suppress(Exception):  # refusing the FIFO is fine, hanging is not
        backup_create(kind="manual")
    elapsed = time.monotonic() - started

    assert elapsed < 1.5, f"backup_create() blocked {elapsed:.1f} s on a planted FIFO"
    assert Signup.objects.count() == 1
