"""`kill -9` of `manage.py backup` and `manage.py backup_worker` at any moment (docs/spec.md §9).

Afterwards no dump is on disk without its manifest, the next worker pass clears up what the
killed process left and settles its catalogue entry, every backup on disk verifies, and the next
backup holds every signup.
"""

import os
import random
import subprocess
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from backups_app import files
from backups_app.models import Backup
from backups_app.services.verify import check_files
from tests.backups_app.conftest import on_postgresql
from tests.subprocesses import database_url, kill_9, run_manage, start_manage
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUPS = 30_000
KILLS_AT_RANDOM = 10


def insert_signups(count: int, *, first: int = 0) -> None:
    """`count` committed signups, written by the database itself (fast)."""
    series = (
        "generate_series(%s, %s) AS g(n)"
        if on_postgresql()
        else "(WITH RECURSIVE s(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM s WHERE n < %s) "
        "SELECT n FROM s) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "  # noqa: S608 - constants only
            "consent, created_at) SELECT 'Fan ' || n, 'fan' || n || '@example.com', '', '', '', "
            f"'Front row please', true, CURRENT_TIMESTAMP FROM {series}",
            [first, first + count - 1],
        )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll as fast as we can (bounded) until `condition` holds or the process has ended."""
    for _ in range(200_000):
        if condition() or process.poll() is not None:
            return
        time.sleep(0.0002)


def names_on_disk(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def assert_no_dump_without_its_manifest(folder: Path) -> None:
    names = set(names_on_disk(folder))
    lone = [
        name
        for name in names
        if files.NAME_PATTERN.match(name) and files.manifest_name_for(name) not in names
    ]
    assert lone == [], f"dumps without their manifest: {lone}"


def assert_cleared_up_and_settled(folder: Path, killed: list[str]) -> None:
    """After the next worker pass: nothing left but backups that verify, and no entry running."""
    names = names_on_disk(folder)
    assert [n for n in names if n.startswith(files.PARTIAL_PREFIX)] == []
    assert_no_dump_without_its_manifest(folder)
    dumps = {files.manifest_name_for(n) for n in names if files.NAME_PATTERN.match(n)}
    manifests = {n for n in names if files.MANIFEST_PATTERN.match(n)}
    assert manifests - dumps == set(), "manifests without their dump"
    assert not Backup.objects.filter(status=Backup.Status.RUNNING).exists()
    for name in (n for n in names if files.NAME_PATTERN.match(n)):
        check_files(folder / name)  # raises VerificationError
        assert Backup.objects.get(name=name).status == Backup.Status.SUCCEEDED
    for name in killed:
        backup = Backup.objects.get(name=name)
        if backup.status == Backup.Status.FAILED:
            assert not (folder / name).exists()
            assert any(m.subject.endswith(f"Backup {name} was interrupted") for m in mail.outbox)
        else:  # killed after both files were in place: it was complete, and is recorded so
            assert (folder / name).exists()


def worker_pass() -> str:
    out = StringIO()
    call_command("backup_worker", "--once", stdout=out)
    return out.getvalue()


def new_entries(before: set[str]) -> list[str]:
    return sorted(set(Backup.objects.values_list("name", flat=True)) - before)


@pytest.fixture
def site(backup_dir, settings, mailoutbox) -> dict[str, str]:
    """A waitlist of SIGNUPS signups; the environment for child processes to use it; a worker
    pass here that only clears up (the killed processes' own work is what is under test)."""
    insert_signups(SIGNUPS)
    settings.BACKUP_DEBOUNCE_SECONDS = settings.BACKUP_MAX_DELAY_SECONDS = 10**6
    settings.BACKUP_RESTORE_TEST_SECONDS = 10**6
    return {
        "DATABASE_URL": database_url(),
        "BACKUP_DIR": str(backup_dir),
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],  # the tests' own (pyproject)
    }


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
