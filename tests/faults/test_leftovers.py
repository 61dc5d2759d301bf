"""What killed or failed operations leave behind, and the clean-up on every worker pass (§9).

Partial dumps, a dump or manifest alone, scratch databases and scratch folders hold personal
data or look like backups; none outlives the next worker pass, and nothing a running operation
still uses is touched.
"""

import contextlib
import secrets
import tempfile
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from psycopg import sql as pgsql

from backups_app import files
from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services import backup_create, backup_worker_pass
from backups_app.services.catalogue import backup_leftovers_clean
from tests.backups_app.conftest import on_postgresql
from tests.faults.conftest import assert_cleared_up_and_settled, insert_signups, wait_for
from tests.subprocesses import kill_9, start_manage

pytestmark = pytest.mark.django_db(transaction=True)


def scratch_prefix() -> str:
    return str(connection.settings_dict["NAME"])[:30] + "_scratch_"


def make_scratch_leftover() -> str:
    """A scratch database or folder named as the engines name theirs, left by a killed process."""
    engine = get_engine()
    if on_postgresql():
        name = scratch_prefix() + secrets.token_hex(4)
        with psycopg.connect(**engine.connect_params("postgres"), autocommit=True) as admin:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        return name
    folder = Path(tempfile.mkdtemp(prefix=".restore-", dir=engine.path.parent))
    (folder / "scratch.sqlite3").write_text("INSERT INTO waitlist_responses VALUES ('Ada', …)")
    return folder.name


def scratch_left() -> list[str]:
    if on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
                [scratch_prefix()],
            )
            return [row[0] for row in cursor.fetchall()]
    return sorted(p.name for p in get_engine().path.parent.glob(".restore-*"))


def killed_backup_entry() -> Backup:
    started = timezone.now() - timezone.timedelta(minutes=1)
    return Backup.objects.create(
        name=files.dump_name(files.stamp_for(started), "none"),
        kind=Backup.Kind.AUTO,
        status=Backup.Status.RUNNING,
        vendor=connection.vendor,
        started_at=started,
    )


def dead_partial(folder: Path, name: str = "backup-2001-01-01T00-00-00-000Z.sql") -> Path:
    """A partial file whose writer is gone (nobody holds its lock)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{files.PARTIAL_PREFIX}{name}.x1y2z3"
    path.write_text("COPY public.waitlist_responses … ada@example.com")
    return path


def test_worker_pass_clears_up_after_killed_operations(backup_dir, mailoutbox):
    kept = backup_create(kind=Backup.Kind.MANUAL)
    killed = killed_backup_entry()
    (backup_dir / killed.name).write_text("-- half a dump, no manifest")
    alone = "backup-2002-02-02T00-00-00-000Z.sql"
    files.write_manifest(backup_dir / files.manifest_name_for(alone), {"name": alone})
    partial = dead_partial(backup_dir)
    scratch = make_scratch_leftover()

    result = backup_worker_pass()

    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(
        [kept.name, files.manifest_name_for(kept.name)]
    )
    assert scratch not in scratch_left()
    assert result.leftovers.interrupted == [killed.name]
    assert partial.name in result.leftovers.files
    killed.refresh_from_db()
    assert killed.status == Backup.Status.FAILED
    assert "Interrupted" in killed.error
    assert [m.subject for m in mailoutbox] == [f"[Django] Backup {killed.name} was interrupted"]
    kept.refresh_from_db()
    assert kept.status == Backup.Status.SUCCEEDED


def test_nothing_is_touched_while_a_backup_or_restore_runs(backup_dir, mailoutbox):
    running = killed_backup_entry()
    scratch = make_scratch_leftover()

    with get_engine().lock(timeout=1):
        result = backup_worker_pass()

        assert result.leftovers.busy
        running.refresh_from_db()
        assert running.status == Backup.Status.RUNNING
        assert scratch in scratch_left()

    assert backup_worker_pass().leftovers.interrupted == [running.name]
    assert scratch not in scratch_left()


def test_a_partial_file_still_being_written_is_kept_even_without_the_lock(backup_dir):
    dead = dead_partial(backup_dir)
    final = backup_dir / "backup-2003-03-03T00-00-00-000Z.sql"

    with files.atomic_file(final) as handle:
        handle.write(b"-- being written")
        handle.flush()
        with get_engine().lock(timeout=1):  # another operation holds the backup lock too
            result = backup_leftovers_clean()
        writing = list(backup_dir.glob(files.PARTIAL_PREFIX + "*"))

    assert result.busy
    assert result.files == [dead.name]
    assert [p.name for p in writing] != [] and dead not in writing
    assert final.read_bytes() == b"-- being written"


def test_a_scratch_database_in_use_without_the_lock_is_kept(backup_dir):
    """Every scratch is made under the lock; as a second safeguard, one that something opened
    without it (older code, an operator's script) is kept while open."""
    insert_signups(3)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    engine = get_engine()

    with files.open_sql(backup_dir / backup.name) as sql, engine.scratch(sql=sql) as scratch:
        result = backup_leftovers_clean()
        in_use = scratch_left()
        counted = scratch.row_counts()["waitlist_responses"]

    assert not result.busy
    assert result.scratch == []
    assert len(in_use) == 1
    assert counted == 3
    assert scratch_left() == []


def test_a_backup_complete_on_disk_when_its_process_stopped_is_recorded(backup_dir, mailoutbox):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.RUNNING)

    result = backup_leftovers_clean()

    assert result.completed == [backup.name]
    assert result.interrupted == []
    backup.refresh_from_db()
    assert backup.status == Backup.Status.SUCCEEDED
    assert (backup_dir / backup.name).exists()
    assert mailoutbox == []


def test_a_recorded_backup_that_lost_its_manifest_is_not_taken_for_a_leftover(backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / files.manifest_name_for(backup.name)).unlink()

    result = backup_leftovers_clean()

    assert result.files == []
    assert (backup_dir / backup.name).exists()


@pytest.mark.parametrize("command", [("verifybackup", "--restore-test"), ("restore", "--diff")])
def test_killed_restore_test_or_diff_leaves_no_scratch_after_the_next_pass(
    site, backup_dir, command
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    before = scratch_left()
    name, option = command

    for _ in range(3):  # the scratch appears once the process is up; kill it then
        process = start_manage(name, backup.name, option, **site)
        wait_for(lambda: scratch_left() != before, process)
        if process.poll() is None:
            break
        process.wait()
    kill_9(process)
    left = scratch_left()

    call_command("backup_worker", "--once", stdout=StringIO())

    assert left != before, "the process was not caught while it had a scratch database"
    assert scratch_left() == before
    assert_cleared_up_and_settled(backup_dir, [])
    with contextlib.suppress(FileNotFoundError):
        assert not list(backup_dir.glob(files.PARTIAL_PREFIX + "*"))


@pytest.mark.sqlite_only
def test_a_killed_sqlite_dumps_scratch_folder_is_cleared(backup_dir):
    """The dump's own scratch (counts, the newest signup) sits beside the database, not in a
    temporary folder nobody looks at, so the next pass finds it."""
    folder = Path(tempfile.mkdtemp(prefix=".dump-", dir=get_engine().path.parent))
    (folder / "query-0.tsv").write_text("1\tada@example.com\n")

    result = backup_leftovers_clean()

    assert folder.name in result.scratch
    assert not folder.exists()
    backup = backup_create(kind=Backup.Kind.MANUAL)  # a dump still works, and leaves nothing
    assert backup.status == Backup.Status.SUCCEEDED
    assert not list(get_engine().path.parent.glob(".dump-*"))
