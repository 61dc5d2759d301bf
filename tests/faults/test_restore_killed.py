"""`kill -9` of `manage.py restore` at random moments: the data is exactly as it was or fully
restored, never half; indexes are there; a re-run afterwards works (PRODUCT.md §4.5).

Only the restore process is killed, as the OOM killer or a lost SSH session would: its psql (or
the transaction it held on SQLite) is left to notice on its own.
"""

import datetime
import os
import random
import subprocess
import time

import pytest
from django.db import connection
from django.utils import timezone

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.subprocesses import database_url, kill_9, start_manage
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUPS = 30_000
KILLS = 10
# About 256 bytes a row on PostgreSQL, so the table's pages fill evenly.
MESSAGE = "m" * 180


def rows() -> set[tuple]:
    return set(Signup.objects.values_list("id", "email", "full_name"))


def start_restore(name: str, backup_dir) -> subprocess.Popen:
    return start_manage(
        "restore",
        name,
        "--yes",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        DATABASE_URL=database_url(),
        BACKUP_DIR=str(backup_dir),
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],  # the tests' own (pyproject)
    )


def indexes() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'waitlist_responses'"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'waitlist_responses'"
            )
        return {row[0] for row in cursor.fetchall()}


def diverge(round_number: int) -> None:
    """Make the live data differ from the backup, as it would after some hours of use."""
    Signup.objects.filter(id__in=Signup.objects.order_by("id").values("id")[:500]).delete()
    Signup.objects.filter(email="fan-600@example.com").update(full_name=f"changed {round_number}")
    Signup.objects.create(
        full_name="Later fan",
        email=f"later-{round_number}@example.com",
        message=MESSAGE,
        consent=True,
    )


def test_a_restore_killed_at_random_moments_is_all_or_nothing(backup_dir):
    start = timezone.now() - datetime.timedelta(days=1)
    Signup.objects.bulk_create(
        Signup(
            full_name=f"Fan {n}",
            email=f"fan-{n}@example.com",
            message=MESSAGE,
            consent=True,
            created_at=start + datetime.timedelta(seconds=n),
        )
        for n in range(SIGNUPS)
    )
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backed_up = rows()
    expected_indexes = indexes()
    backed_up_emails = {row[1] for row in backed_up}

    def fully_restored() -> set[tuple]:
        later = {row for row in rows() if row[1] not in backed_up_emails}
        return backed_up | later

    # One complete run first, to learn how long a restore takes from start to exit.
    diverge(0)
    clock = time.monotonic()
    process = start_restore(backup.name, backup_dir)
    output = process.communicate(timeout=300)[0].decode()
    duration = time.monotonic() - clock
    assert process.returncode == 0, output
    assert rows() == fully_restored()

    seed = random.randrange(1 << 30)
    chooser = random.Random(seed)
    outcomes = []
    for round_number in range(1, KILLS + 1):
        diverge(round_number)
        before = rows()
        restored = fully_restored()
        assert before != restored
        delay = chooser.uniform(0.1, duration)
        process = start_restore(backup.name, backup_dir)
        time.sleep(delay)
        finished = process.poll() is not None
        kill_9(process)
        connection.close()

        after = rows()
        context = f"seed={seed} round={round_number} delay={delay:.2f}s of {duration:.2f}s"
        assert after in (before, restored), f"half a restore ({context})"
        assert indexes() == expected_indexes, context
        outcomes.append("restored" if after == restored else "old")
        if finished:
            assert after == restored, context

    # Whatever the kills left, a re-run completes and checks.
    diverge(KILLS + 1)
    process = start_restore(backup.name, backup_dir)
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    assert "row counts verified" in output
    assert rows() == fully_restored()
    assert indexes() == expected_indexes
    # The kills landed on both sides of the commit at least once over the run (seed in the log).
    print(f"kill outcomes (seed {seed}): {outcomes}")
