"""Restoring: round trip, emergency psql/sqlite3 restores, refusals that change nothing (§4.5)."""

import gzip
import json
import shutil
import sqlite3
import subprocess
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from backups_app import files
from backups_app.engines import get_engine
from backups_app.engines.base import ExactConfirmation
from backups_app.exceptions import RestoreError, VerificationError
from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore, backup_verify
from tests.backups_app.conftest import (
    assert_restore_refused,
    psql,
    reseal,
    rewrite_manifest,
    signup_rows,
)
from tests.factories import SignupFactory
from tests.subprocesses import database_url
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def insert_after_the_signups(backup_dir, backup, line: str) -> None:
    """Put `line` into the dump right after the signups' rows, and reseal the manifest."""
    dump = backup_dir / backup.name
    text = dump.read_text()
    end = "\n\\.\n" if connection.vendor == "postgresql" else "\n"
    position = text.index(end, text.index("grace@example.com")) + len(end)
    dump.write_text(text[:position] + line + "\n" + text[position:])
    reseal(backup_dir, backup)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_exact_round_trip_brings_back_identical_rows(signups, backup_dir, settings, compression):
    settings.BACKUP_COMPRESSION = compression
    before = signup_rows()
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    SignupFactory(email="after-the-backup@example.com")

    result = backup_restore(name=backup.name, triggered_by="test", exact=True)

    assert signup_rows() == before
    assert result.name == backup.name
    assert (result.signups_removed, result.signups_kept) == (1, 0)
    safety = Backup.objects.get(name=result.safety_backup)
    assert safety.kind == Backup.Kind.PRE_RESTORE
    assert safety.pinned
    assert safety.row_counts["waitlist_responses"] == 1


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_full_restore_brings_back_the_backup_and_keeps_later_signups(
    signups, backup_dir, settings, compression
):
    settings.BACKUP_COMPRESSION = compression
    backed_up = signup_rows()
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="ada@example.com").delete()
    Signup.objects.filter(email="zoe@example.com").update(full_name="Overwritten by a bug")
    later = SignupFactory(email="after-the-backup@example.com")

    result = backup_restore(name=backup.name)

    rows = signup_rows()
    assert [r for r in rows if r[0] != later.pk] == backed_up
    assert Signup.objects.get(email="after-the-backup@example.com").full_name == later.full_name
    assert (result.signups_kept, result.signups_removed) == (1, 0)


def test_a_later_signup_whose_id_the_backup_uses_is_kept_under_a_new_id(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    ada = Signup.objects.get(email="ada@example.com")
    ada_id = ada.pk
    ada.delete()
    SignupFactory(id=ada_id, email="took-adas-id@example.com")

    result = backup_restore(name=backup.name)

    assert Signup.objects.get(pk=ada_id).email == "ada@example.com"
    moved = Signup.objects.get(email="took-adas-id@example.com")
    assert moved.pk > max(s.pk for s in signups)
    assert result.signups_kept == 1
    assert SignupFactory(email="next@example.com").pk > moved.pk


def test_restore_keeps_staff_accounts_unless_asked(signups, backup_dir, django_user_model):
    backup = backup_create(kind=Backup.Kind.MANUAL)  # no account exists yet
    django_user_model.objects.create_superuser("admin", "admin@example.com", "a-long-pass-123")

    backup_restore(name=backup.name)
    assert django_user_model.objects.filter(username="admin", is_superuser=True).exists()

    result = backup_restore(name=backup.name, include_accounts=True)
    assert not result.accounts_kept
    assert not django_user_model.objects.exists()


def test_restore_keeps_sessions_catalogue_and_ledger_rows(signups, backup_dir, client):
    from django.contrib.auth import get_user_model

    backup = backup_create(kind=Backup.Kind.MANUAL)
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "a-long-pass-123")
    client.force_login(user)
    later = backup_create(kind=Backup.Kind.MANUAL, note="taken after the restored one")

    backup_restore(name=backup.name)

    assert client.get("/admin/").status_code == 200  # still logged in: the session was kept
    assert Backup.objects.get(name=later.name).note == "taken after the restored one"


def test_a_deliberate_exact_restore_raises_no_shrink_alarm(signups, backup_dir, mailoutbox):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later@example.com")
    backup_create(kind=Backup.Kind.MANUAL)

    backup_restore(name=backup.name, exact=True)
    mailoutbox.clear()
    after = backup_create(kind=Backup.Kind.MANUAL)

    assert not after.shrink_detected
    assert mailoutbox == []


def test_a_shrink_after_a_restore_is_still_caught(signups, backup_dir, mailoutbox):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup_restore(name=backup.name)
    Signup.objects.filter(email="ada@example.com").delete()

    after = backup_create(kind=Backup.Kind.MANUAL)

    assert after.shrink_detected
    assert "the restore of" in after.shrink_detail


def test_new_signups_after_a_restore_get_fresh_ids(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    backup_restore(name=backup.name)

    newest = SignupFactory(email="new@example.com")

    assert newest.pk > max(s.pk for s in signups)


def test_catalogue_after_restore_lists_every_backup_on_disk(signups, backup_dir):
    first = backup_create(kind=Backup.Kind.MANUAL)
    second = backup_create(kind=Backup.Kind.MANUAL, pin=True)

    result = backup_restore(name=first.name)

    names = set(Backup.objects.values_list("name", flat=True))
    assert names == {first.name, second.name, result.safety_backup}
    assert Backup.objects.get(name=second.name).pinned
    assert not Backup.objects.filter(status=Backup.Status.RUNNING).exists()
    on_disk = {p.name for p in backup_dir.glob("backup-*.sql")}
    assert names == on_disk


@pytest.mark.parametrize(
    "damage",
    ["corrupt", "truncate", "tamper", "empty"],
)
def test_damaged_backup_is_refused_and_live_data_is_unchanged(signups, backup_dir, damage):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    dump = backup_dir / backup.name
    data = dump.read_bytes()
    if damage == "corrupt":
        dump.write_bytes(data[:100] + b"\x00garbage\xff" + data[110:])
    elif damage == "truncate":
        dump.write_bytes(data[: len(data) // 2])
    elif damage == "tamper":
        dump.write_bytes(data.replace(b"Ada Lovelace", b"Eve Attacker"))
    else:
        dump.write_bytes(b"")
    Signup.objects.filter(email="grace@example.com").delete()

    assert_restore_refused(backup.name, VerificationError)
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()


def test_truncated_backup_with_a_matching_manifest_is_refused(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    dump = backup_dir / backup.name
    dump.write_bytes(dump.read_bytes()[:-300])
    reseal(backup_dir, backup)

    assert_restore_refused(backup.name, VerificationError, "incomplete")


def test_a_gzip_dump_cut_before_its_completion_marker_is_refused_before_commit(
    signups, backup_dir, settings
):
    """The restore finds the marker in the stream it restores (a .gz dump is not decompressed
    a second time before), and refuses before anything commits."""
    settings.BACKUP_COMPRESSION = "gzip"
    backup = backup_create(kind=Backup.Kind.MANUAL)
    dump = backup_dir / backup.name
    sql = gzip.decompress(dump.read_bytes())
    dump.write_bytes(gzip.compress(sql[: sql.rindex(get_engine().completion_marker)]))
    reseal(backup_dir, backup)
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="today@example.com")

    assert_restore_refused(backup.name, VerificationError, "incomplete")
    checked = backup_verify(backup=backup)
    assert not checked.ok and "incomplete" in checked.detail
    tested = backup_verify(backup=backup, restore_test=True)
    assert not tested.ok and "incomplete" in tested.detail


def test_sql_error_midway_rolls_the_whole_restore_back(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    # A non-atomic restore would already have replaced the signups when it reaches this line.
    insert_after_the_signups(backup_dir, backup, "THIS IS NOT SQL;")
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="today@example.com")

    assert_restore_refused(backup.name, RestoreError, "nothing was changed|does not restore")


def test_row_count_mismatch_rolls_the_restore_back(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    manifest = json.loads((backup_dir / files.manifest_name_for(backup.name)).read_text())
    counts = dict(manifest["row_counts"], waitlist_responses=99)
    rewrite_manifest(backup_dir, backup, row_counts=counts)
    Signup.objects.filter(email="ada@example.com").delete()

    assert_restore_refused(backup.name, RestoreError, "waitlist_responses")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "backup-2025-07-13T16-30-00-000Z.sql",  # well-formed, not on disk
        "db.sqlite3",
        "",
    ],
)
def test_names_outside_the_folder_or_unknown_are_refused(signups, backup_dir, name):
    backup_create(kind=Backup.Kind.MANUAL)

    assert_restore_refused(name, ValidationError)


def test_symlink_pointing_out_of_the_folder_is_refused(signups, backup_dir, tmp_path):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    outside = tmp_path / "elsewhere.sql"
    shutil.copy(backup_dir / backup.name, outside)
    link = backup_dir / "backup-2030-01-01T00-00-00-000Z.sql"
    link.symlink_to(outside)

    with pytest.raises(ValidationError, match="outside the backup folder"):
        backup_restore(name=link.name)


def test_backup_from_another_vendor_is_refused(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    other = "sqlite" if connection.vendor == "postgresql" else "postgresql"
    rewrite_manifest(backup_dir, backup, vendor=other)

    with pytest.raises(RestoreError, match=f"is a {other} backup"):
        backup_restore(name=backup.name)


def test_backup_from_a_newer_schema_is_refused(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    manifest = json.loads((backup_dir / files.manifest_name_for(backup.name)).read_text())
    rewrite_manifest(
        backup_dir, backup, migrations=[*manifest["migrations"], "waitlist.0099_from_the_future"]
    )

    with pytest.raises(RestoreError, match="newer schema.*0099_from_the_future"):
        backup_restore(name=backup.name)


def test_restore_by_path_inside_the_folder_works(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()

    backup_restore(name=str(backup_dir / backup.name))

    assert Signup.objects.count() == 3


@pytest.mark.postgresql_only
def test_emergency_psql_restore_into_an_empty_database(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    empty = f"emergency_{uuid.uuid4().hex[:8]}"
    admin_url = database_url().rsplit("/", 1)[0] + "/postgres"
    assert psql(admin_url, "-c", f"CREATE DATABASE {empty}").returncode == 0
    try:
        url = database_url().rsplit("/", 1)[0] + f"/{empty}"
        with (backup_dir / backup.name).open() as dump:
            result = psql(url, stdin=dump)
        assert result.returncode == 0, result.stderr
        count = psql(url, "-tAc", "SELECT count(*) FROM waitlist_responses")
        assert count.stdout.strip() == "3"
    finally:
        psql(admin_url, "-c", f"DROP DATABASE IF EXISTS {empty} WITH (FORCE)")


@pytest.mark.postgresql_only
def test_emergency_psql_restore_over_the_live_database(signups, backup_dir):
    before = signup_rows()
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    connection.close()

    with (backup_dir / backup.name).open() as dump:
        result = psql(database_url(), stdin=dump)

    assert result.returncode == 0, result.stderr
    assert signup_rows() == before


@pytest.mark.postgresql_only
def test_emergency_gunzip_psql_restore(signups, backup_dir, settings):
    settings.BACKUP_COMPRESSION = "gzip"
    before = signup_rows()
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    connection.close()

    gunzip = subprocess.Popen(
        ["gunzip", "-c", str(backup_dir / backup.name)], stdout=subprocess.PIPE
    )
    result = psql(database_url(), stdin=gunzip.stdout)
    gunzip.wait()

    assert result.returncode == 0, result.stderr
    assert signup_rows() == before


@pytest.mark.sqlite_only
@pytest.mark.parametrize("shell", ["sqlite3", "/nonexistent/sqlite3"])
def test_emergency_sqlite3_restore_into_a_new_file(signups, backup_dir, settings, tmp_path, shell):
    settings.BACKUP_SQLITE3 = shell  # the shell's dump, and the Python fallback's
    backup = backup_create(kind=Backup.Kind.MANUAL)
    new_db = tmp_path / "new.db"

    with (backup_dir / backup.name).open() as dump:
        result = subprocess.run(
            ["sqlite3", str(new_db)], stdin=dump, capture_output=True, text=True, timeout=60
        )

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(new_db) as db:
        rows = db.execute("SELECT email, message FROM waitlist_responses ORDER BY id").fetchall()
    assert rows == [
        ("ada@example.com", "It's O'Brien's"),
        ("zoe@example.com", "multi\nline"),
        ("grace@example.com", ""),
    ]


@pytest.mark.sqlite_only
def test_sqlite_restore_keeps_the_live_database_in_wal_mode(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    backup_restore(name=backup.name)

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


@pytest.mark.postgresql_only
def test_another_sessions_temporary_table_stops_neither_backup_nor_restore(signups, backup_dir):
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"] or None, port=s["PORT"] or None
    ) as other:
        other.execute("CREATE TEMP TABLE scratch_work (n int)")
        other.commit()

        backup = backup_create(kind=Backup.Kind.MANUAL)
        Signup.objects.filter(email="ada@example.com").delete()
        backup_restore(name=backup.name)

    assert "pg_temp" not in " ".join(backup.row_counts)
    assert Signup.objects.filter(email="ada@example.com").exists()


@pytest.mark.postgresql_only
def test_large_objects_do_not_end_the_restores_transaction(signups, backup_dir):
    with connection.cursor() as cursor:
        cursor.execute("SELECT lo_from_bytea(0, 'not a signup')")
        oid = cursor.fetchone()[0]
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="later@example.com")

    backup_restore(name=backup.name)

    emails = set(Signup.objects.values_list("email", flat=True))
    assert {"ada@example.com", "later@example.com"} <= emails
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = %s", [oid])
        assert cursor.fetchone()[0] == 1  # left as it was
        cursor.execute("SELECT lo_unlink(%s)", [oid])


@pytest.mark.postgresql_only
@pytest.mark.parametrize("statement", ["COMMIT;", "BEGIN;", "ROLLBACK;"])
def test_a_dump_with_its_own_transaction_control_is_refused(signups, backup_dir, statement):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    # Where pg_dump puts large objects' BEGIN/COMMIT: after the table data.
    insert_after_the_signups(backup_dir, backup, statement)
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="later@example.com")

    assert_restore_refused(backup.name, RestoreError, "its own .* line")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'waitlist_restore_live'")
        assert cursor.fetchone()[0] == 0


def test_exact_restore_never_hands_out_an_id_again(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    later = [SignupFactory(email=f"later-{n}@example.com") for n in range(2)]

    backup_restore(name=backup.name, exact=True)

    assert SignupFactory(email="next@example.com").pk > max(s.pk for s in later)


@pytest.fixture
def backup_without_newer_tables(signups, backup_dir):
    """A backup taken before the admin's log and the rate-limit windows existed; both are
    migrated back afterwards, as a newer release would."""
    call_command("migrate", "admin", "zero", verbosity=0)
    call_command("migrate", "waitlist", "0001", verbosity=0)
    try:
        backup = backup_create(kind=Backup.Kind.MANUAL)
        call_command("migrate", verbosity=0)
        yield backup
    finally:
        call_command("migrate", verbosity=0)


def test_restoring_a_backup_older_than_a_kept_table_with_rows_is_refused(
    backup_without_newer_tables, django_user_model
):
    from django.contrib.admin.models import CHANGE, LogEntry

    user = django_user_model.objects.create_superuser("boss", "b@example.com", "a-long-pass-123")
    LogEntry.objects.create(user=user, action_flag=CHANGE, object_repr="kept", change_message="")
    Signup.objects.filter(email="ada@example.com").delete()

    with pytest.raises(RestoreError, match="predates the table django_admin_log"):
        backup_restore(name=backup_without_newer_tables.name)

    assert LogEntry.objects.filter(object_repr="kept").exists()
    assert not Signup.objects.filter(email="ada@example.com").exists()


def test_tables_newer_than_the_backup_go_with_their_migrations(backup_without_newer_tables):
    result = backup_restore(name=backup_without_newer_tables.name)

    assert {"django_admin_log", "waitlist_ratelimit_window"} <= set(result.tables_dropped)

    tables = set(connection.introspection.table_names())
    assert "django_admin_log" not in tables
    assert "waitlist_ratelimit_window" not in tables
    call_command("migrate", verbosity=0)  # the migration state matches: they come back cleanly
    assert {"django_admin_log", "waitlist_ratelimit_window"} <= set(
        connection.introspection.table_names()
    )


@pytest.mark.postgresql_only
def test_a_restore_stuck_behind_a_long_transaction_gives_up_and_lets_signups_through(
    signups, backup_dir, settings
):
    import threading

    import psycopg

    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 3
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="ada@example.com").delete()
    before = signup_rows()
    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s["USER"], "host": s["HOST"] or None}
    errors = []

    def restore() -> None:
        try:
            backup_restore(name=backup.name)
        except RestoreError as err:
            errors.append(str(err))

    with psycopg.connect(**params) as blocker, psycopg.connect(**params, autocommit=True) as fan:
        blocker.execute("SELECT count(*) FROM auth_user")  # holds its lock until it ends
        worker = threading.Thread(target=restore)
        worker.start()
        for _ in range(200):  # until the restore's psql waits for a lock
            waiting = fan.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                [s["NAME"]],
            ).fetchone()[0]
            if waiting:
                break
            worker.join(0.05)
        # Meanwhile the signup table is not locked yet: a fan gets through at once.
        fan.execute("SET lock_timeout = '2s'")
        fan.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "
            "consent, created_at) VALUES ('Fan', 'waited@example.com', '', '', '', '', true, "
            "now())"
        )
        worker.join(60)
        blocker.rollback()

    assert errors and "kept a table busy" in errors[0]
    assert "nothing was changed" in errors[0]
    rows = signup_rows()
    assert [r for r in rows if r[2] != "waited@example.com"] == before


def confirmed(*, removes: int) -> ExactConfirmation:
    """An exact restore confirmed now: `removes` signups, none newer than the newest now."""
    return ExactConfirmation(removes=removes, newest_id=Signup.objects.order_by("-pk")[0].pk)


def test_an_exact_restore_removes_no_more_than_was_confirmed(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="confirmed@example.com")
    SignupFactory(email="arrived-meanwhile@example.com")

    assert_restore_refused(
        backup.name,
        RestoreError,
        "more than the 1 confirmed",
        exact=True,
        exact_confirmed=confirmed(removes=1),
    )
    result = backup_restore(name=backup.name, exact=True, exact_confirmed=confirmed(removes=2))
    assert result.signups_removed == 2


def test_accounts_removed_on_purpose_do_not_come_back_unless_asked(
    signups, backup_dir, django_user_model
):
    django_user_model.objects.create_superuser("old_admin", "o@example.com", "a-long-pass-123")
    backup = backup_create(kind=Backup.Kind.MANUAL)
    django_user_model.objects.all().delete()  # revoked, or a new machine after migrate

    result = backup_restore(name=backup.name)

    assert result.accounts_kept
    assert not django_user_model.objects.exists()
    backup_restore(name=backup.name, include_accounts=True)
    assert django_user_model.objects.filter(username="old_admin").exists()


def test_restoring_into_a_database_never_migrated_says_what_to_do(
    signups, backup_dir, tmp_path, settings
):
    from tests.subprocesses import run_manage

    backup = backup_create(kind=Backup.Kind.MANUAL)
    if connection.vendor == "postgresql":
        empty = f"{connection.settings_dict['NAME']}_never_migrated"
        url = database_url().rsplit("/", 1)[0] + "/" + empty
        admin_url = database_url().rsplit("/", 1)[0] + "/postgres"
        psql(admin_url, "-c", f"DROP DATABASE IF EXISTS {empty}", "-c", f"CREATE DATABASE {empty}")
    else:
        url = f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"
    try:
        done = run_manage(
            "restore",
            backup.name,
            "--yes",
            DATABASE_URL=url,
            BACKUP_DIR=str(backup_dir),
            DJANGO_SECRET_KEY="test-only-secret-key-for-an-empty-database-0123456789",
            # The backup is signed with this site's key, derived from its secret key.
            BACKUP_SIGNING_KEY=f"secret-key:{settings.SECRET_KEY}",
        )
    finally:
        if connection.vendor == "postgresql":
            psql(admin_url, "-c", f"DROP DATABASE IF EXISTS {empty}")

    assert done.returncode != 0
    assert "run `manage.py migrate` first" in done.stderr


def test_signups_a_rollback_parked_survive_every_later_restore(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    parked = "waitlist_responses_left_behind_20261130000000_abcdef"
    quoted = connection.ops.quote_name(parked)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quoted} (email varchar(254))")
        cursor.execute(f"INSERT INTO {quoted} VALUES ('parked@example.com')")  # noqa: S608
    try:
        result = backup_restore(name=backup.name)

        assert parked not in result.tables_dropped
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT email FROM {quoted}")  # noqa: S608
            assert cursor.fetchall() == [("parked@example.com",)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quoted}")
