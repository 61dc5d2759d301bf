"""`kill -9` of `manage.py backup` and `manage.py backup_worker` at any moment (docs/spec.md §9).

Afterwards no dump is on disk without its manifest, the next worker pass clears up what the
killed process left and settles its catalogue entry, every backup on disk verifies, and the next
backup holds every signup.
"""

import os
import random
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app import files
from backups_app.models import Backup
from tests.backups_app.conftest import on_postgresql
from tests.faults.conftest import (
    SIGNUPS,
    assert_cleared_up_and_settled,
    assert_no_dump_without_its_manifest,
    insert_signups,
    names_on_disk,
    wait_for,
)
from tests.subprocesses import kill_9, run_manage, start_manage
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

KILLS_AT_RANDOM = 10


def worker_pass() -> str:
    out = StringIO()
    call_command("backup_worker", "--once", stdout=out)
    return out.getvalue()


def new_entries(before: set[str]) -> list[str]:
    return sorted(set(Backup.objects.values_list("name", flat=True)) - before)


def test_backup_killed_at_any_moment_leaves_only_backups_that_verify(site, backup_dir):
    clock = time.monotonic()
    measured = run_manage("backup", **site)
    duration = time.monotonic() - clock
    assert measured.returncode == 0, measured.stderr
    chooser = random.Random(SIGNUPS)  # spread over the whole run, the same points every time
    points: list[float | str] = [
        duration * (n + chooser.random()) / KILLS_AT_RANDOM for n in range(KILLS_AT_RANDOM)
    ]
    # The moments between the two renames: just as the manifest, then the dump, is in place.
    points += ["manifest in place", "dump in place"]

    for point in points:
        before = set(Backup.objects.values_list("name", flat=True))
        on_disk = set(names_on_disk(backup_dir))
        backup = start_manage("backup", **site)
        if isinstance(point, float):
            time.sleep(point)
        else:
            pattern = files.MANIFEST_PATTERN if point == "manifest in place" else files.NAME_PATTERN
            wait_for(
                lambda p=pattern, old=on_disk: any(
                    p.match(n) for n in set(os.listdir(backup_dir)) - old
                ),
                backup,
            )
        kill_9(backup)

        assert_no_dump_without_its_manifest(backup_dir)
        worker_pass()
        assert_cleared_up_and_settled(backup_dir, new_entries(before))

    call_command("verifybackup", "--all", stdout=StringIO())
    after = run_manage("backup", "--json", **site)
    assert after.returncode == 0, after.stderr
    newest = Backup.objects.filter(status=Backup.Status.SUCCEEDED).latest()
    assert newest.row_counts["waitlist_responses"] == Signup.objects.count() == SIGNUPS
    assert newest.newest_signup_id == Signup.objects.latest("id").id


def test_backup_worker_killed_at_any_moment_leaves_only_backups_that_verify(
    site, backup_dir, settings
):
    worker_environment = {
        **site,
        "BACKUP_DEBOUNCE_SECONDS": "0",
        "BACKUP_RETRY_BASE_SECONDS": "0",
        "BACKUP_RETENTION": "3",
    }
    # One pass that backs up (and checks and rotates), one that restore-tests: the worker's work.
    clock = time.monotonic()
    for _ in range(2):
        measured = run_manage("backup_worker", "--once", **worker_environment)
        assert measured.returncode == 0, measured.stderr
    duration = time.monotonic() - clock
    chooser = random.Random(SIGNUPS + 1)
    kills = 5

    for n in range(kills):
        insert_signups(1, first=SIGNUPS + n)  # something for the worker to back up
        before = set(Backup.objects.values_list("name", flat=True))
        worker = start_manage("backup_worker", "--interval", "0.05", **worker_environment)
        time.sleep(duration * (n + chooser.random()) / kills)
        kill_9(worker)

        assert_no_dump_without_its_manifest(backup_dir)
        worker_pass()
        assert_cleared_up_and_settled(backup_dir, new_entries(before))
        assert_no_scratch_left()

    call_command("verifybackup", "--all", stdout=StringIO())
    settings.BACKUP_DEBOUNCE_SECONDS = settings.BACKUP_RETRY_BASE_SECONDS = 0
    assert worker_pass().startswith(("backed-up", "restore-tested"))  # or covered already
    newest = Backup.objects.filter(status=Backup.Status.SUCCEEDED).latest()
    assert newest.row_counts["waitlist_responses"] == Signup.objects.count() == SIGNUPS + kills


def assert_no_scratch_left() -> None:
    name = str(connection.settings_dict["NAME"])
    if on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                [name[:30] + "_scratch_"],
            )
            assert cursor.fetchall() == []
    else:
        assert list(Path(name).parent.glob(".restore-*")) == []
