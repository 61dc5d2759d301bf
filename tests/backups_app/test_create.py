"""Taking a backup: files, manifest, catalogue, consistency and failures (§4.1, §4.2)."""

import datetime
import gzip
import hashlib
import json
import stat
import threading

import psycopg
import pytest
from django.db import close_old_connections, connection

from backups_app import files
from backups_app.engines import get_engine
from backups_app.exceptions import BackupBusy, DumpError
from backups_app.models import Backup
from backups_app.services import backup_create
from tests.backups_app.conftest import on_postgresql, rows_in_dump, write_script
from tests.factories import SignupFactory
from tests.threads import run_together
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_backup_writes_dump_and_manifest_with_every_field(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL, note="before the show", triggered_by="cli:ops")

    assert files.NAME_PATTERN.match(backup.name)
    assert backup.name.endswith(".sql")
    dump = backup_dir / backup.name
    manifest = json.loads((backup_dir / files.manifest_name_for(backup.name)).read_text())
    assert manifest["name"] == backup.name
    assert manifest["kind"] == "manual"
    assert manifest["vendor"] == connection.vendor
    assert manifest["compression"] == "none"
    assert manifest["size_bytes"] == dump.stat().st_size > 0
    assert manifest["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert manifest["row_counts"]["waitlist_responses"] == 3
    assert manifest["row_counts"]["backups_app_backup"] == 1  # itself, running
    assert "waitlist.0001_initial" in manifest["migrations"]
    assert manifest["newest_signup"]["id"] == signups[-1].pk
    created = datetime.datetime.fromisoformat(manifest["newest_signup"]["created_at"])
    assert abs(created - signups[-1].created_at) < datetime.timedelta(seconds=1)
    assert datetime.datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["note"] == "before the show"
    assert manifest["triggered_by"] == "cli:ops"
    backup.refresh_from_db()
    assert backup.status == Backup.Status.SUCCEEDED
    assert backup.sha256 == manifest["sha256"]
    assert backup.size_bytes == manifest["size_bytes"]
    assert backup.newest_signup_id == signups[-1].pk


def test_name_is_a_utc_timestamp_with_milliseconds(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    stamp = files.NAME_PATTERN.match(backup.name).group("stamp")
    parsed = datetime.datetime.strptime(stamp[:-5], "%Y-%m-%dT%H-%M-%S").replace(
        tzinfo=datetime.UTC
    )
    assert abs(parsed - backup.started_at.replace(microsecond=0)) <= datetime.timedelta(seconds=1)
    assert stamp.endswith("Z")


@pytest.mark.postgresql_only
def test_postgresql_dump_has_the_flags_the_emergency_restore_needs(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    text = (backup_dir / backup.name).read_text()
    assert "DROP TABLE IF EXISTS public.waitlist_responses;" in text
    assert "OWNER TO" not in text
    assert "GRANT " not in text
    assert text.rstrip().splitlines()[-1].startswith("\\unrestrict") or text.rstrip().endswith(
        "-- PostgreSQL database dump complete"
    )


def test_gzip_backup_is_compressed_and_checksummed_as_stored(signups, backup_dir, settings):
    settings.BACKUP_COMPRESSION = "gzip"

    backup = backup_create(kind=Backup.Kind.MANUAL)

    dump = backup_dir / backup.name
    assert backup.name.endswith(".sql.gz")
    assert backup.sha256 == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert b"Ada Lovelace" in gzip.decompress(dump.read_bytes())


def test_backup_of_an_empty_waitlist_works(transactional_db, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    assert backup.row_counts["waitlist_responses"] == 0
    assert backup.newest_signup_id is None


def test_row_counts_match_the_dump_while_signups_are_being_written(transactional_db, backup_dir):
    Signup.objects.bulk_create(
        Signup(full_name=f"Fan {n}", email=f"fan{n}@example.com", consent=True)
        for n in range(20_000)
    )
    stop = threading.Event()
    written = []

    def keep_signing_up():
        n = 0
        while not stop.is_set():
            SignupFactory(email=f"during{n}@example.com")
            written.append(n)
            n += 1
        close_old_connections()
        connection.close()

    writer = threading.Thread(target=keep_signing_up)
    writer.start()
    try:
        while len(written) < 5:
            pass
        backup = backup_create(kind=Backup.Kind.MANUAL)
        during = len(written)
    finally:
        stop.set()
        writer.join()

    in_manifest = backup.row_counts["waitlist_responses"]
    assert in_manifest == rows_in_dump(backup_dir / backup.name, "waitlist_responses")
    assert in_manifest >= 20_005
    # Signups kept committing while it ran, so the agreement above was not a quiet moment's.
    assert Signup.objects.count() > in_manifest
    assert during > 5


def test_two_backups_at_once_never_interleave(signups, backup_dir):
    results = []

    def take():
        results.append(backup_create(kind=Backup.Kind.MANUAL))

    run_together(take, take)  # raises what either thread raised

    first, second = sorted(results, key=lambda b: b.started_at)
    assert first.finished_at <= second.started_at
    for backup in results:
        assert hashlib.sha256((backup_dir / backup.name).read_bytes()).hexdigest() == backup.sha256


def test_second_backup_waits_then_fails_busy_with_a_clear_message(signups, backup_dir, settings):
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 0.5

    with get_engine().lock(timeout=1), pytest.raises(BackupBusy, match="Another backup or restore"):
        backup_create(kind=Backup.Kind.MANUAL)

    assert not Backup.objects.exists()
    assert not list(backup_dir.glob("backup-*"))


def test_killed_dump_leaves_no_backup_file_and_records_the_failure(
    signups, backup_dir, settings, tmp_path, mailoutbox
):
    older = backup_create(kind=Backup.Kind.MANUAL)
    if on_postgresql():
        settings.BACKUP_PG_DUMP = str(
            write_script(tmp_path / "pg_dump", 'pg_dump "$@" | head -c 2000\nkill -9 $$\n')
        )
    else:
        settings.BACKUP_SQLITE3 = str(
            write_script(tmp_path / "sqlite3", 'sqlite3 "$@" | head -c 2000\nkill -9 $$\n')
        )

    with pytest.raises(DumpError, match="killed by signal 9|exit code"):
        backup_create(kind=Backup.Kind.MANUAL)

    names = sorted(p.name for p in backup_dir.iterdir() if p.name != "journal")
    assert names == sorted([older.name, files.manifest_name_for(older.name)])
    failed = Backup.objects.get(status=Backup.Status.FAILED)
    assert failed.error
    assert not (backup_dir / failed.name).exists()
    assert hashlib.sha256((backup_dir / older.name).read_bytes()).hexdigest() == older.sha256
    assert any(failed.name in message.subject for message in mailoutbox)


@pytest.mark.postgresql_only
def test_missing_pg_dump_is_a_clear_error(signups, backup_dir, settings):
    settings.BACKUP_PG_DUMP = "/nonexistent/pg_dump"

    with pytest.raises(DumpError, match="Cannot run pg_dump.*BACKUP_PG_DUMP"):
        backup_create(kind=Backup.Kind.MANUAL)

    assert Backup.objects.get().status == Backup.Status.FAILED


@pytest.mark.sqlite_only
def test_sqlite_without_the_shell_dumps_with_python(signups, backup_dir, settings, tmp_path):
    settings.BACKUP_SQLITE3 = "/nonexistent/sqlite3"

    backup = backup_create(kind=Backup.Kind.MANUAL)

    assert backup.row_counts["waitlist_responses"] == 3
    assert rows_in_dump(backup_dir / backup.name, "waitlist_responses") == 3


def test_backup_folder_that_cannot_be_created_fails_clearly(signups, settings, tmp_path):
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("a file where the folder should be")
    settings.BACKUP_DIR = not_a_folder

    with pytest.raises((DumpError, OSError), match="exists|Not a directory"):
        backup_create(kind=Backup.Kind.MANUAL)

    assert not_a_folder.read_text() == "a file where the folder should be"


@pytest.mark.postgresql_only
def test_database_going_away_mid_dump_fails_cleanly(transactional_db, backup_dir, mailoutbox):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "
            "consent, created_at) SELECT 'Fan ' || g, 'fan' || g || '@example.com', '', '', '', "
            "repeat('x', 200), true, now() FROM generate_series(1, 300000) AS g"
        )
    killed = []

    def terminate_pg_dump():
        with connection.cursor() as cursor:
            for _ in range(4000):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'pg_dump' AND datname = current_database()"
                )
                if cursor.fetchall():
                    killed.append(True)
                    break
        connection.close()

    killer = threading.Thread(target=terminate_pg_dump)
    killer.start()
    try:
        with pytest.raises(DumpError, match="pg_dump failed"):
            backup_create(kind=Backup.Kind.MANUAL)
    finally:
        killer.join()

    assert killed
    assert not list(backup_dir.glob("backup-*"))
    assert Backup.objects.get().status == Backup.Status.FAILED
    assert mailoutbox


def test_backup_folder_and_files_are_private(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((backup_dir / backup.name).stat().st_mode) == 0o600


def _terminate_during_pg_dump(*, also_pg_dump: bool) -> tuple[threading.Thread, list]:
    """Terminate Django's own connection (and pg_dump's, if asked) once pg_dump is running."""
    django_pid = connection.connection.info.backend_pid
    killed = []

    def terminate():
        with psycopg.connect(**get_engine().connect_params(), autocommit=True) as watcher:
            for _ in range(20_000):
                running = watcher.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE application_name = 'pg_dump' AND datname = current_database()"
                ).fetchall()
                if running:
                    pids = [django_pid] + ([row[0] for row in running] if also_pg_dump else [])
                    for pid in pids:
                        watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
                    killed.extend(pids)
                    return

    thread = threading.Thread(target=terminate)
    thread.start()
    return thread, killed


def _big_waitlist(rows: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "
            "consent, created_at) SELECT 'Fan ' || g, 'fan' || g || '@example.com', '', '', '', "
            "repeat('x', 200), true, now() FROM generate_series(1, %s) AS g",
            [rows],
        )


@pytest.mark.postgresql_only
def test_django_connection_terminated_mid_dump_still_records_the_backup(
    transactional_db, backup_dir
):
    _big_waitlist(100_000)
    connection.ensure_connection()
    killer, killed = _terminate_during_pg_dump(also_pg_dump=False)
    try:
        backup = backup_create(kind=Backup.Kind.MANUAL)
    finally:
        killer.join()

    assert killed
    assert Backup.objects.get(name=backup.name).status == Backup.Status.SUCCEEDED
    assert backup.row_counts["waitlist_responses"] == 100_000
    assert hashlib.sha256((backup_dir / backup.name).read_bytes()).hexdigest() == backup.sha256


@pytest.mark.postgresql_only
def test_connection_terminated_mid_dump_records_the_failure_and_tells_admins(
    transactional_db, backup_dir, mailoutbox
):
    _big_waitlist(100_000)
    connection.ensure_connection()
    killer, killed = _terminate_during_pg_dump(also_pg_dump=True)
    try:
        with pytest.raises(DumpError, match="pg_dump failed"):
            backup_create(kind=Backup.Kind.MANUAL)
    finally:
        killer.join()

    assert len(killed) >= 2
    failed = Backup.objects.get()
    assert failed.status == Backup.Status.FAILED
    assert "pg_dump failed" in failed.error
    assert [m.subject for m in mailoutbox] == [f"[Django] Backup {failed.name} failed"]
    assert not list(backup_dir.iterdir())
