"""The guard runs PostgreSQL migrations with a lock_timeout (§7.1): a migration queued behind a
long transaction gives up cleanly instead of queueing every query on its table behind it.

Blocking transactions come from connections of their own to the test database, as another
process of the site would hold them; nothing is mocked.
"""

import threading
import time

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app.checks import check_migration_lock_timeout
from backups_app.engines import get_engine
from backups_app.models import SchemaChange
from tests.migration_lab.lab import ROWS

pytestmark = pytest.mark.django_db(transaction=True)

ADD_COLUMN = 'migrations.AddField("entry", "extra", models.CharField(max_length=10, null=True)),'

RECORD_LOCK_TIMEOUT = """
def record_lock_timeout(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        value = cursor.fetchone()[0]
    apps.get_model("migration_lab", "Entry").objects.create(name=value)
"""

#: How long a test waits for something that should happen within seconds before calling it
#: stuck: a bound that proves "did not wait forever", not a timing.
PATIENCE = 30


def other_connection() -> psycopg.Connection:
    """A connection of its own to the test database (the site's other processes)."""
    return psycopg.connect(**get_engine().connect_params())


def blocking_transaction() -> psycopg.Connection:
    """A connection holding ACCESS SHARE on lab_entry in an open transaction, as any reader of
    the table does until it commits. PostgreSQL ends it after PATIENCE idle seconds, so a
    guard without lock_timeout fails these tests instead of hanging them."""
    blocker = other_connection()
    blocker.execute(f"SET idle_in_transaction_session_timeout = '{PATIENCE}s'")
    blocker.execute("LOCK TABLE lab_entry IN ACCESS SHARE MODE")
    return blocker


def session_lock_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        return cursor.fetchone()[0]


def wait_for_lock_wait(watcher: psycopg.Connection, statement: str) -> bool:
    """Whether a statement starting with `statement` is seen waiting for a lock in time."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        waiting = watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [statement + "%"],
        ).fetchone()
        if waiting:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.postgresql_only
def test_a_migration_behind_a_lock_fails_in_one_line_then_applies_once_it_is_released(
    lab, settings
):
    settings.MIGRATION_LOCK_TIMEOUT = 1
    lab.insert_rows()
    lab.migration("0002_add_extra", ADD_COLUMN)
    with blocking_transaction() as blocker:
        started = time.monotonic()

        with pytest.raises(CommandError) as failure:
            call_command("migrate", "migration_lab", verbosity=0)

        assert time.monotonic() - started < PATIENCE
        message = str(failure.value)
        assert message.startswith("migration_lab.0002_add_extra failed: LockNotAvailable: ")
        assert "waited more than 1 s (MIGRATION_LOCK_TIMEOUT) for a lock held by another" in message
        assert f"pid {blocker.info.backend_pid} (idle in transaction, LOCK TABLE" in message
        assert "\n" not in message
        change = SchemaChange.objects.latest("id")
        assert change.outcome == "failed"
        assert "waited more than 1 s" in change.error
        assert "applied before the failure: none" in change.error
        assert f"#{change.pk}" in message
        assert "0002_add_extra" not in lab.applied()
        assert "extra" not in lab.columns()
        assert lab.count() == len(ROWS)
        assert session_lock_timeout() == "0"  # reset after the failure
        blocker.commit()

    call_command("migrate", "migration_lab", verbosity=0)

    assert "0002_add_extra" in lab.applied()
    assert "extra" in lab.columns()
    assert SchemaChange.objects.latest("id").outcome == "applied"


@pytest.mark.postgresql_only
def test_a_write_queued_behind_the_waiting_migration_goes_through_when_it_gives_up(lab, settings):
    """Without lock_timeout the INSERT would wait as long as the blocking transaction lasts:
    here it completes while that transaction is still open."""
    settings.MIGRATION_LOCK_TIMEOUT = 2
    lab.migration("0002_add_extra", ADD_COLUMN)
    seen = {"migration_waiting": False, "insert_queued": False, "insert_error": None}

    def write_a_row() -> None:
        with other_connection() as writer, other_connection() as watcher:
            watcher.autocommit = writer.autocommit = True
            writer.execute(f"SET statement_timeout = '{PATIENCE}s'")
            seen["migration_waiting"] = wait_for_lock_wait(watcher, "ALTER TABLE")
            if not seen["migration_waiting"]:
                return
            spy = threading.Thread(
                target=lambda: seen.update(
                    insert_queued=wait_for_lock_wait(watcher, "INSERT INTO lab_entry")
                )
            )
            spy.start()
            try:
                writer.execute("INSERT INTO lab_entry (name) VALUES ('Queued signup')")
            except psycopg.Error as err:
                seen["insert_error"] = err
            spy.join(PATIENCE)

    with blocking_transaction() as blocker:
        writing = threading.Thread(target=write_a_row)
        writing.start()

        with pytest.raises(CommandError, match="LockNotAvailable: it waited more than 2 s"):
            call_command("migrate", "migration_lab", verbosity=0)

        writing.join(PATIENCE)
        assert not writing.is_alive(), "the INSERT is still queued"
        assert seen["migration_waiting"] and seen["insert_queued"]
        assert seen["insert_error"] is None
        assert lab.count() == 1  # written while the blocking transaction is still open
        blocker.commit()
    assert "0002_add_extra" not in lab.applied()


@pytest.mark.postgresql_only
@pytest.mark.parametrize(("seconds", "shown"), [(1.5, "1500ms"), (5, "5s"), (0, "0")])
def test_migrations_run_with_the_lock_timeout_and_it_is_reset_after(lab, settings, seconds, shown):
    settings.MIGRATION_LOCK_TIMEOUT = seconds
    lab.migration(
        "0002_record", "migrations.RunPython(record_lock_timeout),", functions=RECORD_LOCK_TIMEOUT
    )

    call_command("migrate", "migration_lab", verbosity=0)

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM lab_entry")
        assert cursor.fetchall() == [(shown,)]
    assert SchemaChange.objects.latest("id").outcome == "applied"
    assert session_lock_timeout() == "0"


@pytest.mark.postgresql_only
def test_zero_leaves_postgresql_s_own_lock_timeout_in_charge(lab, settings):
    """With MIGRATION_LOCK_TIMEOUT at 0 the guard sets nothing and resets nothing: a
    lock_timeout from the role, the database or the connection options still applies."""
    settings.MIGRATION_LOCK_TIMEOUT = 0
    lab.migration("0002_add_extra", ADD_COLUMN)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '1s'")  # as ALTER ROLE … SET lock_timeout would
    try:
        with blocking_transaction() as blocker:
            with pytest.raises(
                CommandError, match=r"waited more than PostgreSQL's own lock_timeout \(1s\)"
            ):
                call_command("migrate", "migration_lab", verbosity=0)
            blocker.commit()
        assert session_lock_timeout() == "1s"
        assert SchemaChange.objects.latest("id").outcome == "failed"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


@pytest.mark.postgresql_only
def test_a_non_atomic_migration_runs_with_the_lock_timeout_too(lab, settings):
    settings.MIGRATION_LOCK_TIMEOUT = 2
    lab.migration(
        "0002_record",
        "migrations.RunPython(record_lock_timeout),",
        functions=RECORD_LOCK_TIMEOUT,
        atomic=False,
    )

    call_command("migrate", "migration_lab", verbosity=0)

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM lab_entry")
        assert cursor.fetchall() == [("2s",)]
    assert session_lock_timeout() == "0"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (-1, "MIGRATION_LOCK_TIMEOUT must not be negative, not -1.0."),
        ("soon", "MIGRATION_LOCK_TIMEOUT must be a number of seconds, not 'soon'."),
        (None, "MIGRATION_LOCK_TIMEOUT must be a number of seconds, not None."),
    ],
)
def test_a_bad_lock_timeout_is_reported_at_start_up(settings, value, words):
    settings.MIGRATION_LOCK_TIMEOUT = value

    errors = check_migration_lock_timeout(None)

    assert [(e.id, e.msg) for e in errors] == [("backups_app.E004", words)]


@pytest.mark.parametrize("value", [0, 2.5, "3"])
def test_a_lock_timeout_in_seconds_or_zero_passes_the_check(settings, value):
    settings.MIGRATION_LOCK_TIMEOUT = value

    assert check_migration_lock_timeout(None) == []


@pytest.mark.postgresql_only
def test_a_non_atomic_migration_behind_a_lock_times_out_too_and_the_ledger_warns(lab, settings):
    """Outside a transaction each statement stands alone: the ledger says work before the
    timeout may have stayed."""
    settings.MIGRATION_LOCK_TIMEOUT = 1
    lab.migration("0002_add_extra", ADD_COLUMN, atomic=False)
    with blocking_transaction() as blocker:
        with pytest.raises(CommandError, match=r"^migration_lab\.0002_add_extra failed: LockNot"):
            call_command("migrate", "migration_lab", verbosity=0)
        blocker.commit()

    change = SchemaChange.objects.latest("id")
    assert change.outcome == "failed"
    assert "a non-atomic migration may have changed data before it failed" in change.error
    assert "0002_add_extra" not in lab.applied()
    assert "extra" not in lab.columns()
    assert session_lock_timeout() == "0"
