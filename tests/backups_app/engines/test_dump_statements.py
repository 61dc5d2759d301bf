"""A restore runs nothing from a dump but the dump's own statements (docs/spec.md §8.2).

A file that got past the signature check (or a key that leaked) must still not run psql
meta-commands, sqlite3 dot-commands, ATTACH, stray PRAGMAs or anything after the dump's end,
in a restore or in a scratch build (restore tests, diff, preview). These tests take a real
backup, forge SQL streams from its bytes and hand them to the engine itself, below the
signature layer.
"""

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from backups_app import files
from backups_app.engines import get_engine
from backups_app.engines import sqlite as sqlite_engine
from backups_app.exceptions import RestoreError
from backups_app.models import Backup
from backups_app.services import backup_create
from backups_app.services.restore import restore_rules
from tests.backups_app.conftest import signup_rows
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

OPERATIONS = ["restore", "scratch"]


@dataclass
class Taken:
    sql: bytes
    row_counts: dict[str, int]


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file that no forged command may create, in a folder the PostgreSQL server can write
    in too (COPY ... TO PROGRAM runs as the server's user)."""
    folder = Path(tempfile.mkdtemp(prefix="waitlist-dump-statements-"))
    folder.chmod(0o777)
    yield folder / "pwned"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def taken(signups, backup_dir, django_user_model) -> Taken:
    """A real backup (with a staff user who is no superuser), after which the live data moved
    on: one signup deleted, one added. A restore that ran would show."""
    django_user_model.objects.create_user("staff", password="a-long-pass-123", is_staff=True)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    with files.open_sql(backup_dir / backup.name) as sql:
        data = sql.read()
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="later@example.com")
    return Taken(sql=data, row_counts=backup.row_counts)


@pytest.fixture
def awkward_table(transactional_db) -> Iterator[None]:
    """A table whose rows start with NULL or a backslash in the dump's data, and whose
    definition holds a backslash inside a string literal (legal SQL, not a psql command)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE dump_statements_awkward "
            "(note text CHECK (note IS NULL OR note <> '^\\d+$'), n integer)"
        )
        cursor.execute(
            "INSERT INTO dump_statements_awkward VALUES (NULL, 1), ('\\! first column', 2),"
            " ('\\.', 3), ('.shell touch nothing', 4)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS dump_statements_awkward")


def live_state() -> tuple:
    """What a refused restore must leave exactly as it was."""
    users = get_user_model().objects.order_by("username").values_list("username", "is_superuser")
    return get_engine().row_counts(), signup_rows(), list(users)


def run(operation: str, sql: bytes, counts: dict[str, int], *, accounts: bool = False) -> None:
    """Hand `sql` to the engine: a full restore, or a scratch build (restore test, diff)."""
    engine = get_engine()
    connections[engine.alias].close()  # as backup_restore does: our connection holds nothing
    if operation == "restore":
        engine.restore(
            sql=io.BytesIO(sql),
            expected_counts=counts,
            rules=restore_rules(include_accounts=accounts),
        )
    else:
        with engine.scratch(sql=io.BytesIO(sql)):
            pass


def at_the_start(sql: bytes, line: str) -> bytes:
    """`line` before the dump's first line (outside its transaction)."""
    return line.encode() + b"\n" + sql


def at_the_end(sql: bytes, line: str) -> bytes:
    """`line` after the dump's last line (pg_dump's `\\unrestrict`, SQLite's `COMMIT;`)."""
    return sql + line.encode() + b"\n"


def in_the_middle(sql: bytes, line: str) -> bytes:
    """`line` right after the signups' data, where a statement may begin."""
    if connection.vendor == "postgresql":
        start = sql.index(b"COPY public.waitlist_responses ")
        position = sql.index(b"\n\\.\n", start) + len(b"\n\\.\n")
    else:
        position = sql.index(b"\n", sql.index(b"grace@example.com")) + 1
    return sql[:position] + line.encode() + b"\n" + sql[position:]


def assert_refused(operation, sql, taken, marker, match, *, accounts=False) -> None:
    before = live_state()

    with pytest.raises(RestoreError, match=match):
        run(operation, sql, taken.row_counts, accounts=accounts)

    assert not marker.exists()
    assert live_state() == before


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgresql_only
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("where", "line", "match"),
    [
        (at_the_end, "\\! touch {marker}", r"psql command `\\! touch"),
        (in_the_middle, "\\! touch {marker}", r"psql command `\\! touch"),
        (in_the_middle, "\\o {marker}", r"psql command `\\o "),
        (in_the_middle, "\\copy (SELECT 1) TO '{marker}'", r"psql command `\\copy"),
        (in_the_middle, "\\i {script}", r"psql command `\\i "),
        (in_the_middle, "\\set ON_ERROR_STOP off", r"psql command `\\set"),
        (in_the_middle, "SELECT 1; \\! touch {marker}", r"`SELECT 1; \\! touch"),
        (
            in_the_middle,
            "COMMENT ON TABLE public.auth_user IS 'C:\\ it''s \\! fine'; \\! touch {marker}",
            r"psql command `\\! touch",
        ),
        (in_the_middle, "SET client_min_messages = warning; \\! touch {marker}", r"`\\! touch"),
    ],
    ids=[
        "shell-after-unrestrict",
        "shell",
        "output",
        "copy",
        "include",
        "set",
        "after-a-statement",
        "after-a-string-with-backslashes",
        "after-a-set",
    ],
)
def test_psql_commands_in_a_dump_are_refused_before_psql_runs_them(
    taken, marker, operation, where, line, match
):
    script = marker.with_name("included.sql")
    script.write_text(f"\\! touch {marker}\n")
    sql = where(taken.sql, line.format(marker=marker, script=script))

    assert_refused(operation, sql, taken, marker, match)


@pytest.mark.postgresql_only
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("where", "line", "match"),
    [
        (
            at_the_end,
            "UPDATE public.auth_user SET is_superuser = true;",
            "after pg_dump's completion",
        ),
        (at_the_end, "-- a comment is fine; what follows is not\nSELECT 1;", "after pg_dump's"),
        (
            in_the_middle,
            "UPDATE public.auth_user SET is_superuser = true;",
            "statement pg_dump does not",
        ),
        (in_the_middle, "COPY (SELECT 1) TO PROGRAM 'touch {marker}';", "pg_dump does not write"),
        (in_the_middle, "DO $$ BEGIN PERFORM 1; END $$;", "statement pg_dump does not write"),
        (in_the_middle, "TRUNCATE public.waitlist_responses;", "pg_dump does not write"),
        (in_the_middle, "SET standard_conforming_strings = off;", "standard_conforming_strings"),
    ],
    ids=[
        "update-after-marker",
        "select-after-marker",
        "update",
        "program",
        "do",
        "truncate",
        "scs",
    ],
)
def test_statements_pg_dump_never_writes_are_refused(taken, marker, operation, where, line, match):
    sql = where(taken.sql, line.format(marker=marker))

    assert_refused(operation, sql, taken, marker, match, accounts=True)


@pytest.mark.postgresql_only
def test_a_dump_without_its_completion_line_is_refused(taken, marker):
    sql = taken.sql[: taken.sql.index(b"-- PostgreSQL database dump complete")]

    sql += b"COMMENT ON TABLE public.auth_user IS 'written after pg_dump had finished';\n"

    assert_refused("restore", sql, taken, marker, "ends before pg_dump's")


@pytest.mark.postgresql_only
def test_a_dump_cannot_move_the_restore_to_another_database(taken, marker):
    import psycopg
    from psycopg import sql as pgsql

    engine = get_engine()
    other = connection.settings_dict["NAME"] + "_connect_target"
    with engine.connect("postgres", autocommit=True) as maintenance:
        maintenance.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(other)))
        maintenance.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(other)))
    try:
        sql = in_the_middle(taken.sql, f"\\connect {other}")

        assert_refused("restore", sql, taken, marker, r"psql command `\\connect")

        with psycopg.connect(**engine.connect_params(other)) as target:
            tables = target.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()[0]
        assert tables == 0
    finally:
        with engine.connect("postgres", autocommit=True) as maintenance:
            maintenance.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(other))
            )


def string_syntax_switched_midway(marker: Path) -> str:
    """SQL that turns standard_conforming_strings off from inside a function (a column default
    that COPY evaluates), then a line that psql reads as `'a\\''` plus a command, where a
    reader that trusts the dump's `SET standard_conforming_strings = on` sees one string."""
    return (
        "CREATE FUNCTION public.scs_off() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_catalog.set_config('standard_conforming_strings', 'off', false); "
        "RETURN 1; END $$;\n"
        "CREATE TABLE public.scs_switch (a integer, b integer DEFAULT public.scs_off());\n"
        "COPY public.scs_switch (a) FROM stdin;\n1\n\\.\n"
        f"COMMENT ON TABLE public.scs_switch IS 'a\\'' \\! touch {marker} # ';"
    )


@pytest.mark.postgresql_only
def test_psql_itself_refuses_commands_that_the_filter_cannot_see(taken, marker, monkeypatch):
    """Behind the filter, psql runs every dump restricted (`\\restrict`) under a key of the
    restore's own, which the dump cannot hold or guess."""
    from backups_app.engines import postgresql

    sql = in_the_middle(taken.sql, string_syntax_switched_midway(marker))
    with monkeypatch.context() as unrestricted:
        unrestricted.setattr(postgresql, "restrict_commands", lambda key: "")
        with contextlib.suppress(RestoreError), get_engine().scratch(sql=io.BytesIO(sql)):
            pass
    assert marker.exists(), "without \\restrict psql runs the command: the forgery works"
    marker.unlink()

    for operation in OPERATIONS:
        assert_refused(operation, sql, taken, marker, "backslash commands are restricted")


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    ("version_num", "restricts"),
    [
        (130021, False),
        (130022, True),
        (140019, True),
        (150013, False),
        (150014, True),
        (150020, True),
        (160009, False),
        (160010, True),
        (170006, True),
        (120022, False),
        (180000, True),
        (190000, True),
    ],
)
def test_psql_runs_restricted_from_the_release_that_knows_restrict(version_num, restricts):
    """An older psql would stop at `\\restrict`; psql's own version (VERSION_NUM) decides."""
    from backups_app.engines.postgresql import restrict_condition

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {restrict_condition(str(version_num))}")
        assert cursor.fetchone()[0] is restricts


@pytest.mark.postgresql_only
def test_a_function_with_a_begin_atomic_body_restores(signups, backup_dir):
    """Its `END;` stands alone on a line (PostgreSQL 14+) and ends the function's body, not
    the restore's transaction; the statements inside the body are not the dump's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.dump_statements_answer() RETURNS integer LANGUAGE sql "
            "BEGIN ATOMIC SELECT 42; END"
        )
    try:
        backup = backup_create(kind=Backup.Kind.MANUAL)
        with files.open_sql(backup_dir / backup.name) as sql:
            data = sql.read()
        assert b"\nEND;\n" in data

        run("restore", data, backup.row_counts)

        with connection.cursor() as cursor:
            cursor.execute("SELECT public.dump_statements_answer()")
            assert cursor.fetchone()[0] == 42
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS public.dump_statements_answer()")


# --- SQLite --------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("where", "line", "match"),
    [
        (in_the_middle, "ATTACH DATABASE '{marker}' AS evil;", "runs ATTACH DATABASE"),
        (at_the_end, "ATTACH DATABASE '{marker}' AS evil;", "goes on after its final COMMIT"),
        (in_the_middle, ".shell touch {marker}", r"sqlite3 shell command `\.shell"),
        (in_the_middle, ".output {marker}", r"sqlite3 shell command `\.output"),
        (at_the_end, ".shell touch {marker}", r"sqlite3 shell command `\.shell"),
        (at_the_start, "VACUUM INTO '{marker}';", "or VACUUM INTO"),
        (in_the_middle, "PRAGMA journal_mode=WAL;", "PRAGMA journal_mode"),
        (in_the_middle, "PRAGMA trusted_schema=ON;", "PRAGMA trusted_schema"),
        (in_the_middle, "SELECT load_extension('{marker}');", "load_extension"),
        (in_the_middle, "UPDATE auth_user SET is_superuser = 1;", "UPDATE auth_user"),
        (at_the_end, "UPDATE auth_user SET is_superuser = 1;", "goes on after its final COMMIT"),
    ],
    ids=[
        "attach",
        "attach-after-commit",
        "shell",
        "output",
        "shell-after-commit",
        "vacuum-into",
        "journal-mode",
        "trusted-schema",
        "load-extension",
        "update",
        "update-after-commit",
    ],
)
def test_sqlite_dumps_run_nothing_but_their_own_statements(
    taken, marker, operation, where, line, match
):
    sql = where(taken.sql, line.format(marker=marker))

    assert_refused(operation, sql, taken, marker, match, accounts=True)


@pytest.mark.sqlite_only
def test_a_line_starting_with_a_dot_inside_a_string_is_data(taken, marker):
    statement = (
        "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "  # noqa: S608 - constants only
        "consent, created_at) VALUES ('Dot', 'dot@example.com', '', '', '', 'line one\n"
        f".shell touch {marker}\n.output {marker}', 1, '2025-01-01 00:00:00');"
    )
    sql = in_the_middle(taken.sql, statement)

    with get_engine().scratch(sql=io.BytesIO(sql)) as scratch:
        counts = scratch.row_counts()

    assert counts["waitlist_responses"] == taken.row_counts["waitlist_responses"] + 1
    assert not marker.exists()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("block", [7, 64, 4096])
def test_dumps_read_in_small_blocks_still_refuse_and_still_restore(
    taken, marker, monkeypatch, block
):
    """The SQLite build reads the dump in blocks: a shell command or a string split across
    two of them is judged the same as in one."""
    monkeypatch.setattr(sqlite_engine, "SCRIPT_BATCH_BYTES", block)
    statement = (
        "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "  # noqa: S608 - constants only
        "consent, created_at) VALUES ('Dot', 'dot@example.com', '', '', '', 'line one\n"
        f"  .shell touch {marker}', 1, '2025-01-01 00:00:00');"
    )

    with get_engine().scratch(sql=io.BytesIO(in_the_middle(taken.sql, statement))) as scratch:
        assert scratch.row_counts()["waitlist_responses"] == (
            taken.row_counts["waitlist_responses"] + 1
        )
    sql = in_the_middle(taken.sql, f"  .shell touch {marker}")
    with (
        pytest.raises(RestoreError, match=re.escape(f"shell command `.shell touch {marker}`")),
        get_engine().scratch(sql=io.BytesIO(sql)),
    ):
        pass
    assert not marker.exists()


# --- both ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_real_backup_still_restores(taken, operation):
    run(operation, taken.sql, taken.row_counts)

    if operation == "restore":
        assert Signup.objects.filter(email="ada@example.com").exists()
        assert Signup.objects.filter(email="later@example.com").exists()


def test_data_that_looks_like_commands_restores_as_data(signups, backup_dir, awkward_table, marker):
    assert_data_that_looks_like_commands_restores(backup_dir, marker)


@pytest.mark.sqlite_only
def test_data_that_looks_like_commands_restores_from_a_python_written_dump(
    signups, backup_dir, awkward_table, marker, settings
):
    """Without the sqlite3 shell, Python's iterdump() writes line breaks inside strings as
    they are, so lines of the dump start with `.shell` inside a string literal."""
    settings.BACKUP_SQLITE3 = str(marker.with_name("no-sqlite3-shell"))

    assert_data_that_looks_like_commands_restores(backup_dir, marker)


def assert_data_that_looks_like_commands_restores(backup_dir: Path, marker: Path) -> None:
    message = f"\\! touch {marker}\n.shell touch {marker}\nend \\"
    SignupFactory(email="backslash@example.com", message=message)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    with files.open_sql(backup_dir / backup.name) as sql:
        data = sql.read()
    Signup.objects.filter(email="backslash@example.com").delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM dump_statements_awkward")

    run("restore", data, backup.row_counts)

    assert Signup.objects.get(email="backslash@example.com").message == message
    with connection.cursor() as cursor:
        cursor.execute("SELECT note, n FROM dump_statements_awkward ORDER BY n")
        assert cursor.fetchall() == [
            (None, 1),
            ("\\! first column", 2),
            ("\\.", 3),
            (".shell touch nothing", 4),
        ]
    assert not marker.exists()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_unique_index_written_over_duplicates_is_refused(taken, marker, operation):
    """With `PRAGMA writable_schema` (which sqlite3 writes around virtual tables) a dump can
    turn a plain index over duplicate rows into a UNIQUE one by editing sqlite_master; SQLite
    copies a table with its indexes as they are, so the live database would hold duplicates
    under a UNIQUE index. The build checks the copy's integrity when a dump did that."""
    unique = re.search(
        rb'CREATE UNIQUE INDEX "?waitlist_responses_email_ci_unique"?[^;]*;', taken.sql
    ).group()
    plain = unique.replace(b"CREATE UNIQUE INDEX", b"CREATE INDEX")
    duplicate = (
        "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "
        "consent, created_at) VALUES ('Grace', 'GRACE@example.com', '', '', '', '', 1, "
        "'2025-01-01 00:00:00');"
    )
    sql = in_the_middle(taken.sql, duplicate).replace(unique, plain)
    forged_schema = (
        "PRAGMA writable_schema=ON;\n"
        "UPDATE sqlite_master SET sql = replace(sql, 'CREATE INDEX', 'CREATE UNIQUE INDEX') "
        "WHERE name = 'waitlist_responses_email_ci_unique';\n"
        "PRAGMA writable_schema=OFF;\n"
    )
    end = sql.rindex(b"COMMIT;")
    sql = sql[:end] + forged_schema.encode() + sql[end:]
    taken.row_counts["waitlist_responses"] += 1

    assert_refused(
        operation, sql, taken, marker, "integrity check.*non-unique entry", accounts=True
    )


@pytest.mark.sqlite_only
def test_a_dump_that_turns_writable_schema_on_but_keeps_the_schema_whole_restores(taken):
    """sqlite3 writes `PRAGMA writable_schema` around virtual tables: a copy that passes the
    integrity check it then gets is restored like any other."""
    end = taken.sql.rindex(b"COMMIT;")
    sql = taken.sql[:end] + b"PRAGMA writable_schema=ON;\nPRAGMA writable_schema=OFF;\n"
    sql += taken.sql[end:]

    run("restore", sql, taken.row_counts, accounts=True)

    # Ada (deleted after the backup) is back; the later signup is kept, as in every restore.
    emails = set(Signup.objects.values_list("email", flat=True))
    assert {"ada@example.com", "later@example.com"} <= emails
    assert len(emails) == taken.row_counts["waitlist_responses"] + 1
