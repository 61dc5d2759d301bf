"""`kill -9` of `manage.py restore` at random moments: the data is exactly as it was or fully
restored, never half; indexes are there; a re-run afterwards works (docs/spec.md §4.5).

Only the restore process is killed, as the OOM killer or a lost SSH session would: its psql (or
the transaction it held on SQLite) is left to notice on its own.
"""

import datetime
import os
import random
import subprocess
import time
from pathlib import Path
from typing import IO

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


def start_restore(name: str, backup_dir, output: IO[bytes]) -> subprocess.Popen:
    """`manage.py restore NAME --yes` in a child process; its stdout and stderr go to `output`
    (a file, not a pipe: a killed restore's output is still there to read afterwards)."""
    return start_manage(
        "restore",
        name,
        "--yes",
        stdout=output,
        stderr=subprocess.STDOUT,
        DATABASE_URL=database_url(),
        BACKUP_DIR=str(backup_dir),
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],  # the tests' own (pyproject)
    )


def run_restore(name: str, backup_dir, log: Path) -> tuple[subprocess.Popen, str]:
    """A restore run to its end: the process (its return code) and its output."""
    with log.open("wb") as output_file:
        process = start_restore(name, backup_dir, output_file)
        process.wait(timeout=300)
    return process, log.read_text(errors="replace")


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


def test_a_restore_killed_at_random_moments_is_all_or_nothing(backup_dir, tmp_path):
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
    process, output = run_restore(backup.name, backup_dir, tmp_path / "restore-0.log")
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
        log = tmp_path / f"restore-{round_number}.log"
        with log.open("wb") as output_file:
            process = start_restore(backup.name, backup_dir, output_file)
            time.sleep(delay)
            # None: still running when the kill is sent. It may still commit before the signal
            # lands, so a killed restore may leave either the old data or the restored data.
            exit_code = process.poll()
            kill_9(process)
        connection.close()

        after = rows()
        output = log.read_text(errors="replace")
        context = (
            f"seed={seed} round={round_number} delay={delay:.2f}s of {duration:.2f}s "
            f"exit={exit_code}\n--- restore output ---\n{output}"
        )
        if exit_code is None:
            # Killed mid-way: all or nothing, never half.
            assert after in (before, restored), f"half a restore ({context})"
            outcomes.append("restored" if after == restored else "old")
        else:
            # It ended by itself before the kill: then it must have succeeded, fully.
            assert exit_code == 0, f"the restore failed rather than finished ({context})"
            assert after == restored, f"the restore exited 0 but did not restore ({context})"
            outcomes.append("finished")
        assert indexes() == expected_indexes, context

    # Whatever the kills left, a re-run completes and checks.
    diverge(KILLS + 1)
    process, output = run_restore(backup.name, backup_dir, tmp_path / "restore-last.log")
    assert process.returncode == 0, output
    assert "row counts verified" in output
    assert rows() == fully_restored()
    assert indexes() == expected_indexes
    # The kills landed on both sides of the commit at least once over the run (seed in the log).
    print(f"kill outcomes (seed {seed}): {outcomes}")
