"""PostgreSQL backups with the real pg_dump and psql (docs/spec.md §4.1).

Dumps are plain SQL with `--clean --if-exists --no-owner --no-privileges`, so the emergency
`psql "$DATABASE_URL" < backup-….sql` works on an empty database and on the live one. Row counts
come from a REPEATABLE READ transaction whose exported snapshot pg_dump reads, so they match the
dump exactly while signups keep arriving.
"""

import contextlib
import hashlib
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, NoReturn

import psycopg
from psycopg import sql as pgsql

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.engines.base import (
    LEFT_BEHIND_INFIX,
    ROW_BATCH,
    BaseEngine,
    DumpSnapshot,
    ErasureRules,
    RestoreOutcome,
    RestoreRules,
    ScratchDatabase,
    child_stdout,
    drain,
    exit_description,
    left_behind_table_name,
    quote_name,
    quote_text,
    stderr_tail,
)
from backups_app.exceptions import BackupBusy, BackupError, DumpError, RestoreError

# Where a restore parks the live tables it keeps, inside its own transaction (so a killed
# restore leaves nothing behind: the schema never commits).
KEEP_SCHEMA = "waitlist_restore_live"
OUTCOME_MARKER = "waitlist-restore-outcome|"
# How long one try to lock every table for a restore may wait (signups may queue that long).
LOCK_TRY_MS = 1000
# Scratch databases are named <database name[:30]>_scratch_<8 hex digits>.
SCRATCH_SUFFIX = re.compile(r"[0-9a-f]{8}")
LOCK_KEY = int.from_bytes(hashlib.sha256(b"waitlist-site backups").digest()[:8], "big", signed=True)
# Other sessions' temporary tables (schemas pg_temp_N) are neither ours to count nor dumped.
TABLES_SQL = """
    SELECT schemaname, tablename FROM pg_catalog.pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname !~ '^pg_'
    ORDER BY schemaname, tablename
"""
# libpq environment variables for the settings Django passes through OPTIONS.
LIBPQ_ENVIRONMENT = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


def table_key(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def qualified(key: str) -> str:
    schema, _, table = key.rpartition(".")
    return f"{quote_name(schema or 'public')}.{quote_name(table)}"


class PostgreSQLEngine(BaseEngine):
    vendor = "postgresql"
    completion_marker = b"-- PostgreSQL database dump complete"

    # --- connections -----------------------------------------------------------------------------
    def connect_params(self, dbname: str | None = None) -> dict:
        s = self.settings_dict
        params = {
            "dbname": dbname or s["NAME"],
            "user": s.get("USER") or None,
            "password": s.get("PASSWORD") or None,
            "host": s.get("HOST") or None,
            "port": str(s["PORT"]) if s.get("PORT") else None,
        }
        options = s.get("OPTIONS", {})
        params.update({key: str(options[key]) for key in LIBPQ_ENVIRONMENT if key in options})
        return {key: value for key, value in params.items() if value is not None}

    def tool_environment(
        self, dbname: str | None = None, *, lock_timeout: bool = False, erasure_pads: str = ""
    ) -> dict[str, str]:
        """Connection settings for pg_dump/psql: through the environment, never on the command
        line, so the password does not show in `ps`."""
        params = self.connect_params(dbname)
        names = {
            "dbname": "PGDATABASE",
            "user": "PGUSER",
            "password": "PGPASSWORD",
            "host": "PGHOST",
            "port": "PGPORT",
            **LIBPQ_ENVIRONMENT,
        }
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        environment.update({names[key]: value for key, value in params.items()})
        # Only warnings and errors from psql: --clean on an empty database is all NOTICEs.
        options = "-c client_min_messages=warning"
        if lock_timeout:
            # A restore must not queue for ever behind a long transaction holding a table.
            options += f" -c lock_timeout={int(conf.lock_timeout_seconds() * 1000)}"
        if erasure_pads:
            # Hex digits, dots and commas only: nothing to quote.
            options += f" -c waitlist.erasure_pads={erasure_pads}"
        environment["PGOPTIONS"] = options
        return environment

    def connect(self, dbname: str | None = None, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(**self.connect_params(dbname), **kwargs)
        except psycopg.OperationalError as err:
            raise BackupError(f"Cannot connect to PostgreSQL: {err}".strip()) from err

    # --- lock ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, *, timeout: float) -> Iterator[None]:
        """A session-level advisory lock: one backup or restore at a time across every host."""
        holder = self.connect(autocommit=True)
        try:
            deadline = time.monotonic() + timeout
            while not holder.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise BackupBusy(
                        f"Another backup or restore is running (waited {timeout:g} s); "
                        "try again when it has finished."
                    )
                time.sleep(0.1)
            yield
        finally:
            holder.close()  # ends the session, which releases the lock

    # --- dump ------------------------------------------------------------------------------------
    def dump(self, *, out: IO[bytes], queries: dict[str, str]) -> DumpSnapshot:
        snapshot_connection = self.connect()
        try:
            snapshot_connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            snapshot_connection.read_only = True
            snapshot_id = snapshot_connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
            command = [
                conf.pg_dump_path(),
                "--format=plain",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                # Large objects come with a BEGIN/COMMIT of their own, which would end a
                # restore's transaction midway; Django keeps none, and a restore leaves any
                # that exist as they are.
                "--no-blobs",
                "--no-password",
                f"--snapshot={snapshot_id}",
                # Behind a migration's exclusive lock, fail rather than wait for ever.
                f"--lock-wait-timeout={int(conf.lock_timeout_seconds() * 1000)}",
            ]
            with tempfile.TemporaryFile() as stderr:
                try:
                    process = subprocess.Popen(
                        command,
                        stdout=child_stdout(out),
                        stderr=stderr,
                        env=self.tool_environment(),
                    )
                except OSError as err:
                    raise DumpError(
                        f"Cannot run pg_dump ({conf.pg_dump_path()!r}): {err.strerror}. "
                        "Install the PostgreSQL client or set BACKUP_PG_DUMP."
                    ) from err
                # Count in the exported snapshot while pg_dump streams: the same data, in parallel.
                counting = _Counting(snapshot_connection, queries)
                counting.start()
                try:
                    returncode = drain(process, out)
                finally:
                    counting.join()
                if returncode != 0:
                    raise DumpError(
                        f"pg_dump failed ({exit_description(returncode)}): {stderr_tail(stderr)}"
                    )
            if counting.error is not None:
                raise DumpError(f"Counting rows failed: {counting.error}") from counting.error
            return DumpSnapshot(row_counts=counting.row_counts, query_rows=counting.query_rows)
        except psycopg.Error as err:
            raise DumpError(f"PostgreSQL error during the dump: {err}") from err
        finally:
            snapshot_connection.close()

    # --- restore ---------------------------------------------------------------------------------
    def restore(
        self, *, sql: IO[bytes], expected_counts: dict[str, int], rules: RestoreRules
    ) -> RestoreOutcome:
        """One psql session, one explicit transaction: lock every table (signups wait, they do
        not fail), move the live tables the restore keeps aside, run the dump, check its row
        counts, carry the kept rows over, COMMIT. Not `--single-transaction`: psql commits
        that one when its input ends early, so a killed restore would leave half a database;
        here an early end of input closes the session with the transaction open, which
        PostgreSQL rolls back."""
        output = self._psql(
            sql=sql,
            dbname=None,
            erasure_pads=rules.erasure.pads if rules.erasure else "",
            prologue=restore_prologue_sql(
                rules,
                wait_seconds=conf.lock_timeout_seconds(),
                backup_tables=sorted(expected_counts),
            ),
            epilogue=count_check_sql(expected_counts) + "\n" + restore_epilogue_sql(rules),
        )
        for line in output.splitlines():
            if line.startswith(OUTCOME_MARKER):
                kept, removed, left_behind, parked, erased = line.split("|")[1:6]
                return RestoreOutcome(
                    signups_kept=int(kept),
                    signups_removed=int(removed),
                    signups_left_behind=int(left_behind),
                    left_behind_table=parked,
                    signups_kept_erased=int(erased),
                )
        # Cannot happen short of a broken psql: the outcome is printed before COMMIT is sent.
        raise RestoreError(
            "psql committed the restore without reporting what it kept; the data as it was "
            "before is in the safety backup."
        )

    def _psql(
        self,
        *,
        sql: IO[bytes],
        dbname: str | None,
        prologue: str = "",
        epilogue: str = "",
        erasure_pads: str = "",
    ) -> str:
        """Run the dump in one transaction that only COMMITs after `epilogue`; return what psql
        printed (unaligned, tuples only). `erasure_pads` reach the session as the setting
        waitlist.erasure_pads (through the environment, never in the SQL's text)."""
        command = [
            conf.psql_path(),
            "--no-psqlrc",
            "--quiet",
            "--no-password",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            "--file=-",
        ]
        with tempfile.TemporaryFile() as stderr, tempfile.TemporaryFile() as stdout:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=stdout,
                    stderr=stderr,
                    env=self.tool_environment(dbname, lock_timeout=True, erasure_pads=erasure_pads),
                )
            except OSError as err:
                raise RestoreError(
                    f"Cannot run psql ({conf.psql_path()!r}): {err.strerror}. "
                    "Install the PostgreSQL client or set BACKUP_PSQL."
                ) from err
            try:
                restricted = restrict_commands(secrets.token_hex(32))
                process.stdin.write(f"{restricted}BEGIN;\n{prologue}\n".encode())
                for chunk in dump_statements_only(sql):
                    process.stdin.write(chunk)
                process.stdin.write(b"\n" + epilogue.encode() + b"\nCOMMIT;\n")
                process.stdin.close()
            except BrokenPipeError:
                pass  # psql stopped at an error; its exit code and stderr say which
            except BaseException:
                process.kill()  # before COMMIT was sent: the transaction dies with the session
                process.wait()
                raise
            returncode = process.wait()
            if returncode != 0:
                raise RestoreError(
                    f"psql failed ({exit_description(returncode)}); nothing was changed: "
                    f"{stderr_tail(stderr)}"
                )
            stdout.seek(0)
            return stdout.read().decode(errors="replace")

    # --- scratch database ------------------------------------------------------------------------
    @contextlib.contextmanager
    def scratch(self, *, sql: IO[bytes]) -> Iterator[ScratchDatabase]:
        name = self.scratch_prefix() + secrets.token_hex(4)
        maintenance = self._maintenance_connection()
        try:
            maintenance.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        except psycopg.Error as err:
            maintenance.close()
            raise RestoreError(f"Cannot create a scratch database: {err}") from err
        try:
            self._psql(sql=sql, dbname=name)
            with self.connect(name, autocommit=True) as scratch_connection:
                yield PostgreSQLScratch(scratch_connection)
        finally:
            maintenance.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )
            maintenance.close()

    def scratch_leftovers_remove(self) -> list[str]:
        """Drop this database's scratch databases that no session uses (DROP DATABASE without
        FORCE also refuses one that a session opened meanwhile)."""
        prefix = self.scratch_prefix()
        with self.connect(autocommit=True) as connection:
            rows = connection.execute(
                "SELECT datname FROM pg_database AS d WHERE starts_with(datname, %s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.datname = d.datname)"
                " ORDER BY datname",
                [prefix],
            ).fetchall()
        names = [name for (name,) in rows if SCRATCH_SUFFIX.fullmatch(name, len(prefix))]
        if not names:
            return []
        dropped = []
        with contextlib.closing(self._maintenance_connection()) as maintenance:
            for name in names:
                try:
                    maintenance.execute(
                        pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(name))
                    )
                except psycopg.errors.ObjectInUse:
                    continue
                except psycopg.Error as err:
                    logger.warning("cannot drop the scratch database %s: %s", name, err)
                    continue
                dropped.append(name)
        return dropped

    def scratch_prefix(self) -> str:
        return f"{str(self.settings_dict['NAME'])[:30]}_scratch_"

    def _maintenance_connection(self) -> psycopg.Connection:
        for dbname in ("postgres", "template1"):
            try:
                return psycopg.connect(**self.connect_params(dbname), autocommit=True)
            except psycopg.OperationalError:
                continue
        raise RestoreError("Cannot connect to the 'postgres' or 'template1' database.")

    # --- erased fans still in the table -------------------------------------------------------
    def erased_signup_ids(self, *, rules: RestoreRules) -> list[int]:
        """The live signups the erasure ledger covers, matched in SQL as a restore does (the key's
        pads reach the session as a setting, never in a statement)."""
        erasure = rules.erasure
        if erasure is None or not rules.signup_table:
            return []
        options = f"-c waitlist.erasure_pads={erasure.pads}" if erasure.pads else ""
        with self.connect(options=options) as connection:
            connection.execute(ERASURE_FUNCTIONS_SQL)
            table = f"public.{quote_name(rules.signup_table)}"
            ledger = connection.execute(
                "SELECT to_regclass(%s)", [f"public.{quote_name(erasure.table)}"]
            ).fetchone()[0]
            if ledger is None:
                return []
            found = connection.execute(
                "SELECT pg_temp.waitlist_find_erased(%s::regclass, %s::regclass, %s, %s, %s, "
                "%s, NULL, %s)",
                [
                    table,
                    ledger,
                    rules.signup_key,
                    erasure.signup_created_column,
                    erasure.hash_column,
                    erasure.at_column,
                    rules.signup_pk,
                ],
            ).fetchone()[0]
            if not found:
                return []
            rows = connection.execute(
                f"SELECT {quote_name(rules.signup_pk)} FROM {table} "
                "WHERE ctid IN (SELECT row_id FROM waitlist_erased_rows) ORDER BY 1"
            ).fetchall()
            return [row[0] for row in rows]

    # --- live counts -----------------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        with self.connect() as connection:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            return count_rows(connection)


class PostgreSQLScratch(ScratchDatabase):
    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection

    def row_counts(self) -> dict[str, int]:
        return count_rows(self.connection)

    def columns(self, table: str) -> list[str]:
        schema, _, name = table.rpartition(".")
        rows = self.connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema or "public", name],
        ).fetchall()
        return [row[0] for row in rows]

    def iter_rows(self, table: str, columns: list[str]) -> Iterator[list[tuple]]:
        column_list = ", ".join(quote_name(c) for c in columns)
        query = f"SELECT {column_list} FROM {qualified(table)} ORDER BY 1"
        with self.connection.transaction(), self.connection.cursor(name="scratch_rows") as cursor:
            cursor.itersize = ROW_BATCH
            cursor.execute(query)
            while batch := cursor.fetchmany(ROW_BATCH):
                yield batch


class _Counting(threading.Thread):
    """Counts every table, and runs the caller's queries, inside the exported snapshot."""

    def __init__(self, connection: psycopg.Connection, queries: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.connection = connection
        self.queries = queries
        self.row_counts: dict[str, int] = {}
        self.query_rows: dict[str, list[tuple]] = {}
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.row_counts = count_rows(self.connection)
            for name, query in self.queries.items():
                self.query_rows[name] = self.connection.execute(query).fetchall()
        except Exception as err:  # reported by the dumping thread
            self.error = err


def count_rows(connection: psycopg.Connection) -> dict[str, int]:
    tables = [table_key(schema, table) for schema, table in connection.execute(TABLES_SQL)]
    if not tables:
        return {}
    query = " UNION ALL ".join(
        f"SELECT {quote_text(key)}, count(*) FROM {qualified(key)}" for key in tables
    )
    return {key: count for key, count in connection.execute(query)}


def count_check_sql(expected_counts: dict[str, int]) -> str:
    """A DO block that raises, aborting psql's single transaction, when a count differs."""
    checks = "\n".join(
        f"  SELECT count(*) INTO n FROM {qualified(key)};\n"
        f"  IF n <> {int(count)} THEN RAISE EXCEPTION "
        f"'restored table % has % rows, the manifest says %', {quote_text(key)}, n, {int(count)};"
        f" END IF;"
        for key, count in sorted(expected_counts.items())
    )
    return f"DO $check$\nDECLARE n bigint;\nBEGIN\n{checks}\nEND\n$check$;"


# --- what a restore lets psql run (docs/spec.md §8.2) ---------------------------------------------
# A plain dump is a psql script, and psql runs the backslash commands in it (`\! cmd` starts a
# shell, `\o file` writes files, `\connect` moves on to another database). So the dump passes to
# psql only when everything in it is what pg_dump writes: statements from an allow-list of their
# first words, COPY data, the one `\restrict KEY` line before the SQL and the one `\unrestrict KEY`
# after the completion line (both dropped: psql gets a key of the restore's own instead, see
# restrict_commands), and nothing else after that line. To tell SQL from commands, the dump is
# read the way psql's lexer reads it (psqlscan.l: strings, quoted names, dollar quotes, comments,
# parentheses, BEGIN ATOMIC bodies): a backslash inside a literal is SQL, one after `SELECT 1;` on
# the same line is a command psql would run. COPY data, nearly all of a dump, is skipped with
# bytes.find. What the reader cannot know (a function that changes standard_conforming_strings or
# client_encoding midway changes how psql reads what follows) is the job of psql's own restricted
# mode, which holds for the whole dump.

COMPLETION_LINE = b"-- PostgreSQL database dump complete"
RESTRICT_LINE = re.compile(rb"\\restrict ([A-Za-z0-9]+)\n")
UNRESTRICT_LINE = re.compile(rb"\\unrestrict ([A-Za-z0-9]+)\n")
# psql's tokens outside strings, quoted names, dollar quotes and comments, as far as they matter.
SQL_TOKEN = re.compile(
    rb"""
    (?P<space>[ \t\n\r\f\v]+)
  | (?P<comment>--[^\n\r]*)
  | (?P<block>/\*)
  | (?P<escape_string>[eE]')
  | (?P<string>(?:[uU]&|[bBxXnN])?')
  | (?P<name>(?:[uU]&)?")
  | (?P<dollar>\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$)
  | (?P<word>[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|\$[0-9]+)
  | (?P<other>[\s\S])
    """,
    re.VERBOSE,
)
# After a number: psql versions split `1e'x'` or `1x'y'` differently (which decides whether a
# string takes backslash escapes); pg_dump never writes a number run into a name or a quote.
AFTER_NUMBER_AMBIGUOUS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_'\"$") | {
    *range(0x80, 0x100)
}
ESCAPE_STRING_STOP = re.compile(rb"[\\']")
COMMENT_MARK = re.compile(rb"/\*|\*/")
LINE_BREAK = re.compile(rb"[\n\r]")
# The first words of the statements pg_dump writes (with --clean --if-exists, no large objects).
# Anything else (UPDATE, INSERT, DELETE, DO, TRUNCATE, COPY TO, CALL, ...) is refused.
DUMP_STATEMENT = re.compile(
    rb"(?:CREATE|ALTER|DROP|COMMENT ON|GRANT|REVOKE|SECURITY LABEL|REFRESH MATERIALIZED VIEW)\b"
    rb"|SELECT pg_catalog\.set_config\('search_path', '', false\);$"
    rb"|SELECT pg_catalog\.setval\('(?:[^'\n]|'')+', -?[0-9]+, (?:true|false)\);$"
    rb"|SELECT \* FROM pg_catalog\.pg_restore_(?:relation|attribute)_stats\($"
)
_SETTING_VALUE = rb"(?:[A-Za-z0-9_.\-]+|'(?:[^'\\\n]|'')*')"
SETTING = re.compile(rb"SET ([a-z_]+) = (" + _SETTING_VALUE + rb"(?:, " + _SETTING_VALUE + rb")*);")
# Client encodings whose multibyte characters can hold a backslash byte, which psql's lexer then
# reads differently (PostgreSQL's client-only encodings, as clean_encoding_name spells them).
UNSAFE_ENCODINGS = frozenset(
    {"big5", "gb18030", "gbk", "johab", "mskanji", "shiftjis", "shiftjis2004", "sjis", "uhc"}
    | {"win932", "win936", "win949", "win950"}
)
_IDENTIFIER = rb'(?:[a-z_][a-z0-9_$]*|"(?:[^"\n]|"")+")'
COPY_LINE = re.compile(
    rb"COPY " + _IDENTIFIER + rb"(?:\." + _IDENTIFIER + rb")? "
    rb"(?:\(" + _IDENTIFIER + rb"(?:, " + _IDENTIFIER + rb")*\) )?FROM stdin;"
)
TRANSACTION_CONTROL = re.compile(rb"(?:BEGIN|START|COMMIT|END|ROLLBACK|ABORT)\b", re.IGNORECASE)
# The words psql watches to find CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC bodies,
# whose semicolons do not end the statement.
ROUTINE_WORDS = frozenset({b"create", b"or", b"replace", b"function", b"procedure"})
# psql knows \restrict from the August 2025 minor releases on (and in 18): major -> minor.
RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}

SQL, COPY_DATA, STRING, ESCAPE_STRING, NAME, DOLLAR_QUOTE, COMMENT, AFTER_STRING = range(8)


class PlainDumpReader:
    """Reads a plain pg_dump script the way psql does, a buffer of whole lines at a time, and
    raises RestoreError at the first thing in it that pg_dump does not write (see above)."""

    def __init__(self) -> None:
        self.state = SQL
        self.resumes = STRING  # the kind of string that a string continued on a new line resumes
        self.newline_seen = False
        self.dollar_tag = b""
        self.comment_depth = 0
        self.in_statement = False
        self.copy_line_end = -1
        self.paren_depth = 0
        self.begin_depth = 0
        self.words: list[bytes] = []
        self.restrict_key: bytes | None = None
        self.unrestricted = False
        self.started = False
        self.complete = False
        self.lines_before = 0
        self.text = b""
        self.dropped: list[tuple[int, int]] = []

    def feed(self, text: bytes) -> bytes:
        """Check `text` (whole lines); return what psql gets of it: all of it but the dump's
        `\\restrict` and `\\unrestrict` lines."""
        self.text, self.dropped = text, []
        position, end = 0, len(text)
        steps = {
            SQL: self._sql,
            COPY_DATA: self._copy_data,
            STRING: self._string,
            ESCAPE_STRING: self._escape_string,
            NAME: self._name,
            DOLLAR_QUOTE: self._dollar_quote,
            COMMENT: self._comment,
            AFTER_STRING: self._after_string,
        }
        while position < end:
            position = steps[self.state](position)
        self.lines_before += text.count(b"\n")
        if not self.dropped:
            return text
        kept, start = [], 0
        for drop_start, drop_end in self.dropped:
            kept.append(text[start:drop_start])
            start = drop_end
        kept.append(text[start:])
        return b"".join(kept)

    def finish(self) -> None:
        """The dump has ended: refuse it unless it got to pg_dump's completion line."""
        if not self.complete:
            raise RestoreError(
                "The backup ends before pg_dump's completion line; a restore runs nothing but "
                "a complete dump, so it was refused and nothing was changed."
            )

    # --- states ----------------------------------------------------------------------------------
    def _copy_data(self, position: int) -> int:
        # psql ends COPY data at a line that is exactly `\.` (before \n or \r\n).
        text = self.text
        while True:
            if text.startswith(b"\\.", position) and (
                text.startswith(b"\n", position + 2) or text.startswith(b"\r\n", position + 2)
            ):
                self.state = SQL
                return text.index(b"\n", position) + 1
            found = text.find(b"\n\\.", position)
            if found < 0:
                return len(text)
            position = found + 1

    def _sql(self, position: int) -> int:
        text, end = self.text, len(self.text)
        while position < end and self.state == SQL:
            token = SQL_TOKEN.match(text, position)
            kind, start, position = token.lastgroup, token.start(), token.end()
            if kind == "space":
                continue
            if kind == "comment":
                if (
                    not self.in_statement
                    and text[start:position] == COMPLETION_LINE
                    and (start == 0 or text[start - 1] == 0x0A)
                ):
                    self.complete = True
                continue
            if text[start] == 0x5C:  # a backslash: a psql command from here to the line's end
                position = self._backslash(start)
                continue
            if self.complete:
                self._refuse(start, f"has `{self._snippet(start)}` after pg_dump's completion line")
            if kind == "block":
                self.state, self.comment_depth = COMMENT, 1
                continue
            if not self.in_statement:
                self._statement_start(start)
            if kind == "word":
                self._word(token[0])
            elif kind == "number":
                if position < end and text[position] in AFTER_NUMBER_AMBIGUOUS:
                    self._refuse(
                        start,
                        "has a number run into a name or a quote, which psql "
                        "versions read differently",
                    )
            elif kind == "string":
                self.state = STRING
            elif kind == "escape_string":
                self.state = ESCAPE_STRING
            elif kind == "name":
                self.state = NAME
            elif kind == "dollar":
                self.state, self.dollar_tag = DOLLAR_QUOTE, token[0]
            elif text[start] == 0x3B:  # ;
                position = self._semicolon(start)
            elif text[start] == 0x28:  # (
                self.paren_depth += 1
            elif text[start] == 0x29 and self.paren_depth:  # )
                self.paren_depth -= 1
            elif text[start] == 0:
                self._refuse(start, "has a NUL byte outside its data")
        return position

    def _string(self, position: int) -> int:
        # Outside E'...', a backslash is an ordinary character (standard_conforming_strings is
        # on: pg_dump says so, refusing a dump that turns it off); '' is a quote.
        text = self.text
        quote = text.find(b"'", position)
        if quote < 0:
            return len(text)
        if text.startswith(b"'", quote + 1):
            return quote + 2
        self.state, self.resumes, self.newline_seen = AFTER_STRING, STRING, False
        return quote + 1

    def _escape_string(self, position: int) -> int:
        text = self.text
        while stop := ESCAPE_STRING_STOP.search(text, position):
            position = stop.end()
            # A backslash escapes the byte after it; '' is a quote.
            if text[stop.start()] == 0x5C or text.startswith(b"'", position):
                position += 1
                continue
            self.state, self.resumes, self.newline_seen = AFTER_STRING, ESCAPE_STRING, False
            return position
        return len(text)

    def _after_string(self, position: int) -> int:
        # 'abc' <newline> 'def' is one string (of the first one's kind); psql looks past blanks
        # and -- comments for the quote that continues it.
        text, end = self.text, len(self.text)
        while position < end:
            byte = text[position]
            if byte in b" \t\f":
                position += 1
            elif byte in b"\n\r":
                self.newline_seen, position = True, position + 1
            elif text.startswith(b"--", position):
                line_break = LINE_BREAK.search(text, position)
                position = line_break.start() if line_break else end
            elif byte == 0x27 and self.newline_seen:
                self.state = self.resumes
                return position + 1
            elif byte == 0x0B:
                self._refuse(
                    position,
                    "has a vertical tab after a string, which psql versions read differently",
                )
            else:
                self.state = SQL
                return position
        return position

    def _name(self, position: int) -> int:
        text = self.text
        quote = text.find(b'"', position)
        if quote < 0:
            return len(text)
        if text.startswith(b'"', quote + 1):
            return quote + 2
        self.state = SQL
        return quote + 1

    def _dollar_quote(self, position: int) -> int:
        close = self.text.find(self.dollar_tag, position)
        if close < 0:
            return len(self.text)
        self.state = SQL
        return close + len(self.dollar_tag)

    def _comment(self, position: int) -> int:
        # /* ... */ comments nest.
        text = self.text
        while mark := COMMENT_MARK.search(text, position):
            position = mark.end()
            self.comment_depth += 1 if mark[0] == b"/*" else -1
            if self.comment_depth == 0:
                self.state = SQL
                return position
        return len(text)

    # --- tokens ----------------------------------------------------------------------------------
    def _backslash(self, start: int) -> int:
        text = self.text
        if not self.in_statement and (start == 0 or text[start - 1] == 0x0A):
            line = RESTRICT_LINE.match(text, start)
            if line and not self.started and self.restrict_key is None and not self.complete:
                self.restrict_key = line[1]
                self.dropped.append((start, line.end() - 1))
                return line.end()
            line = UNRESTRICT_LINE.match(text, start)
            if line and self.complete and not self.unrestricted and line[1] == self.restrict_key:
                self.unrestricted = True
                self.dropped.append((start, line.end() - 1))
                return line.end()
        self._refuse(start, f"runs the psql command `{self._snippet(start)}`")

    def _statement_start(self, start: int) -> None:
        self.in_statement = self.started = True
        line_end = self.text.index(b"\n", start)
        line = self.text[start:line_end].rstrip(b"\r")
        if TRANSACTION_CONTROL.match(line):
            raise RestoreError(
                f"The backup contains its own {line.decode(errors='replace')!r} line (large "
                "objects, or a file not written by pg_dump for us); a restore runs in one "
                "transaction of its own, so it was refused and nothing was changed."
            )
        if COPY_LINE.fullmatch(line):
            self.copy_line_end = line_end
            return
        setting = SETTING.match(line)
        if setting:
            name, value = setting[1], setting[2]
            encoding = re.sub(rb"[^a-z0-9]", b"", value.lower()).decode()
            changes_reading = (name == b"standard_conforming_strings" and value != b"on") or (
                name == b"client_encoding" and encoding in UNSAFE_ENCODINGS
            )
            if changes_reading:
                self._refuse(
                    start,
                    f"sets {name.decode()} to {value.decode(errors='replace')}, which changes "
                    "how psql reads the rest of it",
                )
            return
        if not DUMP_STATEMENT.match(line):
            self._refuse(
                start, f"contains a statement pg_dump does not write: `{self._snippet(start)}`"
            )

    def _word(self, word: bytes) -> None:
        # psql's BEGIN ATOMIC heuristic (psqlscan.l): inside CREATE [OR REPLACE] FUNCTION or
        # PROCEDURE, outside parentheses, BEGIN ... END (and CASE ... END within) nest.
        lowered = word.lower()
        if len(self.words) < 4:
            self.words.append(lowered[:1] if lowered in ROUTINE_WORDS else b"")
        first = [*self.words, b"", b"", b""]
        routine = first[0] == b"c" and (
            first[1] in (b"f", b"p") or (first[1:3] == [b"o", b"r"] and first[3] in (b"f", b"p"))
        )
        if not routine or self.paren_depth:
            return
        if lowered == b"begin" or (lowered == b"case" and self.begin_depth):
            self.begin_depth += 1
        elif lowered == b"end" and self.begin_depth:
            self.begin_depth -= 1

    def _semicolon(self, start: int) -> int:
        if self.paren_depth or self.begin_depth:
            return start + 1
        self.in_statement, self.words = False, []
        if self.copy_line_end < 0:
            return start + 1
        line_end, self.copy_line_end = self.copy_line_end, -1
        if start + 1 != line_end:
            self._refuse(start, "contains a COPY statement pg_dump does not write")
        self.state = COPY_DATA
        return line_end + 1

    # --- messages --------------------------------------------------------------------------------
    def _snippet(self, start: int) -> str:
        line = self.text[start : self.text.find(b"\n", start)].rstrip(b"\r")
        text = line.decode(errors="replace")
        return text if len(text) <= 80 else text[:77] + "..."

    def _refuse(self, position: int, problem: str) -> NoReturn:
        line = self.lines_before + self.text.count(b"\n", 0, position) + 1
        raise RestoreError(
            f"The backup {problem} (line {line}); a restore runs nothing but pg_dump's own "
            "statements, so it was refused and nothing was changed."
        )


def dump_statements_only(sql: IO[bytes]) -> Iterator[bytes]:
    """The dump's bytes in whole lines, each passed on only once it has been checked: raises
    RestoreError (before psql holds the line, so before anything commits) at the first thing
    pg_dump does not write (PlainDumpReader), and at the end of a dump without pg_dump's
    completion line."""
    reader = PlainDumpReader()
    pending = b""
    while chunk := sql.read(files.STREAM_CHUNK_SIZE):
        text = pending + chunk
        cut = text.rfind(b"\n") + 1
        complete, pending = text[:cut], text[cut:]
        if complete:
            yield reader.feed(complete)
    if pending:
        yield reader.feed(pending + b"\n")
    reader.finish()


def restrict_condition(version_num: str) -> str:
    """An SQL condition: psql of version `version_num` (e.g. 150020) knows `\\restrict`."""
    minors = " ".join(f"WHEN {major} THEN {minor}" for major, minor in RESTRICT_SINCE.items())
    return (
        f"({version_num} >= 180000 OR {version_num} % 10000 >= "
        f"CASE {version_num} / 10000 {minors} ELSE 10000 END)"
    )


def restrict_commands(key: str) -> str:
    """psql commands that restrict the rest of the session to SQL and COPY data (no backslash
    command but `\\unrestrict KEY`), behind the reader above, when this psql knows `\\restrict`.
    Older psql would stop at it, so psql's own version decides, through a variable: `\\if`
    cannot help, its `\\endif` would come after `\\restrict`. The key is the restore's own; a
    dump cannot hold it."""
    command = quote_text(f"\\restrict {key}")
    return (
        f"SELECT CASE WHEN {restrict_condition(':VERSION_NUM')} THEN {command} ELSE '' END"
        " AS waitlist_restrict \\gset\n"
        ":waitlist_restrict\n"
    )


def text_array(values) -> str:
    """An SQL text[] literal of `values` (an empty one when there are none)."""
    return "ARRAY[" + ", ".join(quote_text(v) for v in values) + "]::text[]"


ERASURE_FUNCTIONS_SQL = """
-- The erasure key's HMAC pads, from the session setting the caller passed (§12).
CREATE FUNCTION pg_temp.waitlist_erasure_pads()
RETURNS TABLE (ipad bytea, opad bytea) LANGUAGE sql STABLE AS $f$
  SELECT decode(split_part(p, '.', 1), 'hex'), decode(split_part(p, '.', 2), 'hex')
  FROM unnest(string_to_array(
         coalesce(current_setting('waitlist.erasure_pads', true), ''), ',')) AS p
  WHERE p <> ''
$f$;
-- Fill waitlist_erased_rows with the rows of `target` whose address the ledger erased at or
-- after they signed up (§12); how many. With `unchanged_in`, rows found there under the same
-- id and address are skipped: the live table already honoured every erasure its own ledger
-- holds. Hashing is the cost (two sha256 a row and key), so the candidates are found with one
-- hash each, matched against the ledger as a hashed set, and only they are checked for time.
CREATE FUNCTION pg_temp.waitlist_find_erased(
  target regclass, ledger regclass, email_col text, created_col text, hash_col text,
  at_col text, unchanged_in regclass, pk_col text
) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
  has_rows boolean; signed_up text; skip text := ''; found bigint := 0;
BEGIN
  DROP TABLE IF EXISTS pg_temp.waitlist_erasure_keys, pg_temp.waitlist_erased_rows;
  CREATE TEMP TABLE waitlist_erased_rows (row_id tid) ON COMMIT DROP;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', ledger) INTO has_rows;
  IF NOT has_rows THEN
    RETURN 0;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_temp.waitlist_erasure_pads()) THEN
    RAISE EXCEPTION 'The erasure ledger has entries but no erasure key was given to match '
      'them; nothing was changed.';
  END IF;
  CREATE TEMP TABLE waitlist_erasure_keys ON COMMIT DROP AS
    SELECT ipad, opad FROM pg_temp.waitlist_erasure_pads();
  signed_up := CASE WHEN EXISTS (
      SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = target
      AND attname = created_col AND attnum > 0 AND NOT attisdropped)
    THEN format('s.%I', created_col) ELSE 'NULL::timestamptz' END;
  IF unchanged_in IS NOT NULL THEN
    skip := format('WHERE NOT EXISTS (SELECT 1 FROM %s l WHERE l.%I = s.%I AND l.%I = s.%I)',
                   unchanged_in, pk_col, pk_col, email_col, email_col);
  END IF;
  EXECUTE format(
    'INSERT INTO waitlist_erased_rows SELECT DISTINCT c.row_id FROM ('
    'SELECT row_id, signed_up, digest FROM (SELECT s.ctid AS row_id, %1$s AS signed_up, '
    'sha256(k.opad || sha256(k.ipad || convert_to(lower(btrim(s.%2$I)), ''UTF8''))) AS digest '
    'FROM %3$s s CROSS JOIN waitlist_erasure_keys k %4$s OFFSET 0) AS hashed '
    'WHERE digest IN (SELECT decode(%5$I, ''hex'') FROM %6$s)) AS c '
    'JOIN %6$s e ON decode(e.%5$I, ''hex'') = c.digest '
    'WHERE c.signed_up IS NULL OR e.%7$I >= c.signed_up',
    signed_up, email_col, target, skip, hash_col, ledger, at_col);
  GET DIAGNOSTICS found = ROW_COUNT;
  RETURN found;
END
$f$;
-- Remove those rows from `target`; how many went.
CREATE FUNCTION pg_temp.waitlist_erase(
  target regclass, ledger regclass, email_col text, created_col text, hash_col text,
  at_col text, unchanged_in regclass, pk_col text
) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
  erased bigint := 0;
BEGIN
  IF pg_temp.waitlist_find_erased(target, ledger, email_col, created_col, hash_col, at_col,
                                  unchanged_in, pk_col) = 0 THEN
    RETURN 0;
  END IF;
  EXECUTE format('DELETE FROM %s WHERE ctid IN (SELECT row_id FROM waitlist_erased_rows)',
                 target);
  GET DIAGNOSTICS erased = ROW_COUNT;
  RETURN erased;
END
$f$;
"""


def restore_prologue_sql(
    rules: RestoreRules, *, wait_seconds: float, backup_tables: list[str]
) -> str:
    """Lock every table; drop the live tables the backup predates (refusing when one the
    restore keeps holds rows); move the live tables whose rows the restore keeps out of the
    dump's way (O(1), indexes and sequences go with them)."""
    moved = [rules.signup_table, *rules.kept_tables] if rules.signup_table else rules.kept_tables
    moves = "\n".join(
        f"ALTER TABLE IF EXISTS public.{quote_name(t)} SET SCHEMA {KEEP_SCHEMA};" for t in moved
    )
    kept = text_array(rules.kept_tables)
    in_backup = text_array([t for t in backup_tables if "." not in t])
    return f"""
DO $lock$
DECLARE
  tables text;
  deadline timestamptz := clock_timestamp() + interval '{float(wait_seconds)} seconds';
BEGIN
  -- The signup table last: while the restore waits for another table, signups go on.
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', '
                    ORDER BY tablename = {quote_text(rules.signup_table)}, schemaname, tablename)
    INTO tables
    FROM pg_catalog.pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname !~ '^pg_';
  IF tables IS NULL THEN
    RETURN;
  END IF;
  -- Short tries: a long transaction holding one table must not queue signups behind us.
  LOOP
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', '{LOCK_TRY_MS}', true);
      EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      IF clock_timestamp() > deadline THEN
        RAISE EXCEPTION 'Another transaction kept a table busy for {float(wait_seconds):g} s; '
          'the restore gave up and nothing was changed. Try again when it has finished.';
      END IF;
      PERFORM pg_catalog.pg_sleep(0.2);
    END;
  END LOOP;
END
$lock$;
DO $newer$
DECLARE
  kept_tables text[] := {kept};
  backup_tables text[] := {in_backup};
  t text; has_rows boolean; newer text[] := ARRAY[]::text[];
BEGIN
  -- Tables newer than the backup go before its --clean statements run (a foreign key of
  -- theirs would stop those): the backup's migration state says they do not exist, and their
  -- rows are in the safety backup. One whose rows the restore keeps stops it instead. No
  -- CASCADE: a view or foreign key of the operator's on them stops the restore too.
  FOR t IN SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'
           AND tablename <> ALL (backup_tables)
           AND tablename <> {quote_text(rules.signup_table)}
           -- Signups a rollback parked stay where they are, untouched by any restore.
           AND NOT starts_with(tablename, {quote_text(rules.signup_table + LEFT_BEHIND_INFIX)})
           LOOP
    IF t = ANY (kept_tables) THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I)', t) INTO has_rows;
      IF has_rows THEN
        RAISE EXCEPTION 'The backup predates the table % (staff accounts, sessions or a '
          'ledger), whose live rows a restore keeps; nothing was changed. Restore a newer '
          'backup, or re-insert its signups with --merge.', t;
      END IF;
    END IF;
    newer := newer || format('public.%I', t);
  END LOOP;
  IF cardinality(newer) > 0 THEN
    EXECUTE 'DROP TABLE ' || array_to_string(newer, ', ');
  END IF;
END
$newer$;
CREATE SCHEMA {KEEP_SCHEMA};
{moves}
"""


def restore_epilogue_sql(rules: RestoreRules) -> str:
    """After the dump and its count check: the kept tables get their live rows back, the live
    signups the backup lacks are kept (or counted as removed with `exact`), sequences move past
    every id either side used, and the outcome is printed for the caller."""
    kept = text_array(rules.kept_tables)
    parked_name = left_behind_table_name(rules.signup_table)
    confirmed = rules.exact_confirmed
    removes_at_most = "NULL" if confirmed is None else str(int(confirmed.removes))
    confirmed_newest_id = "NULL" if confirmed is None else str(int(confirmed.newest_id))
    erasure = rules.erasure or ErasureRules(table="")
    return f"""
CREATE FUNCTION pg_temp.waitlist_columns(source regclass, target regclass, skip text)
RETURNS text LANGUAGE sql AS $f$
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
  FROM pg_catalog.pg_attribute a
  WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    AND a.attname IS DISTINCT FROM skip
    AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = source
                AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped)
$f$;
CREATE FUNCTION pg_temp.waitlist_sequences_past(live regclass, restored regclass)
RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
  col text; seq text; old_seq text; next bigint;
BEGIN
  FOR col IN SELECT attname FROM pg_catalog.pg_attribute
             WHERE attrelid = restored AND attnum > 0 AND NOT attisdropped LOOP
    seq := pg_catalog.pg_get_serial_sequence(restored::text, col);
    CONTINUE WHEN seq IS NULL;
    EXECUTE format('SELECT coalesce(max(%I), 0) FROM %s', col, restored) INTO next;
    EXECUTE format('SELECT greatest(%s, last_value) FROM %s', next, seq) INTO next;
    IF live IS NOT NULL THEN
      old_seq := pg_catalog.pg_get_serial_sequence(live::text, col);
      IF old_seq IS NOT NULL THEN
        EXECUTE format('SELECT greatest(%s, last_value) FROM %s', next, old_seq) INTO next;
      END IF;
    END IF;
    PERFORM pg_catalog.setval(seq, next + 1, false);
  END LOOP;
END
$f$;
{ERASURE_FUNCTIONS_SQL}
CREATE TEMP TABLE waitlist_restore_outcome (
  kept bigint, removed bigint, left_behind bigint, parked text, erased bigint
) ON COMMIT DROP;
DO $keep$
DECLARE
  kept_tables text[] := {kept};
  signup_table text := {quote_text(rules.signup_table)};
  signup_key text := {quote_text(rules.signup_key)};
  signup_pk text := {quote_text(rules.signup_pk)};
  exact boolean := {"true" if rules.exact else "false"};
  removes_at_most bigint := {removes_at_most};
  confirmed_newest_id bigint := {confirmed_newest_id};
  unconfirmed bigint := 0;
  may_stay_behind boolean := {"true" if rules.later_signups_may_stay_behind else "false"};
  parked_name text := {quote_text(parked_name)};
  t text; live regclass; restored regclass; cols text; cols_no_pk text; has_rows boolean;
  row_id tid; taken boolean; failed tid[] := ARRAY[]::tid[]; parked text := '';
  later bigint := 0; kept bigint := 0; removed bigint := 0; left_behind bigint := 0;
  erasure_table text := {quote_text(erasure.table)};
  erasure_pk text := {quote_text(erasure.pk)};
  erasure_hash text := {quote_text(erasure.hash_column)};
  erasure_at text := {quote_text(erasure.at_column)};
  signup_created text := {quote_text(erasure.signup_created_column)};
  ledger regclass; erased bigint := 0; later_erased bigint; ledger_news bigint;
BEGIN
  FOREACH t IN ARRAY kept_tables LOOP
    live := to_regclass(format('{KEEP_SCHEMA}.%I', t));
    restored := to_regclass(format('public.%I', t));
    CONTINUE WHEN live IS NULL;
    IF restored IS NULL THEN
      -- The backup predates this table: it would go, and its live rows with it.
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', live) INTO has_rows;
      IF has_rows THEN
        RAISE EXCEPTION 'The backup predates the table % (staff accounts, sessions or a '
          'ledger), whose live rows a restore keeps; nothing was changed. Restore a newer '
          'backup, or re-insert its signups with --merge.', t;
      END IF;
      CONTINUE;
    END IF;
    IF t = erasure_table THEN
      -- Erasures the live ledger lacks may concern live signups too (see below).
      EXECUTE format('SELECT count(*) FROM %1$s r WHERE NOT EXISTS (SELECT 1 FROM %2$s l '
                     'WHERE l.%3$I = r.%3$I AND l.%4$I = r.%4$I)',
                     restored, live, erasure_hash, erasure_at) INTO ledger_news;
      -- An erasure is never undone: the backup's ledger plus every live erasure it lacks.
      PERFORM pg_temp.waitlist_sequences_past(live, restored);
      cols := pg_temp.waitlist_columns(live, restored, erasure_pk);
      EXECUTE format('INSERT INTO %1$s (%3$s) SELECT %3$s FROM %2$s l WHERE NOT EXISTS '
                     '(SELECT 1 FROM %1$s r WHERE r.%4$I = l.%4$I AND r.%5$I = l.%5$I)',
                     restored, live, cols, erasure_hash, erasure_at);
      CONTINUE;
    END IF;
    cols := pg_temp.waitlist_columns(live, restored, NULL);
    EXECUTE format('DELETE FROM %s', restored);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', restored, cols, cols, live);
    PERFORM pg_temp.waitlist_sequences_past(live, restored);
  END LOOP;

  live := to_regclass(format('{KEEP_SCHEMA}.%I', signup_table));
  restored := to_regclass(format('public.%I', signup_table));
  -- Erased fans stay erased (§12): the backup's signups of an address erased at or after they
  -- signed up go first (so a fan who signed up again since is one of the later signups), then
  -- any later one the ledger covers.
  ledger := CASE WHEN erasure_table <> '' THEN to_regclass(format('public.%I', erasure_table))
            END;
  IF signup_table <> '' AND restored IS NOT NULL AND ledger IS NOT NULL THEN
    -- Only the backup's rows the live table lacks need checking, unless the backup brings
    -- erasures the live ledger did not have.
    erased := pg_temp.waitlist_erase(
      restored, ledger, signup_key, signup_created, erasure_hash, erasure_at,
      CASE WHEN ledger_news = 0 THEN live END, signup_pk);
  END IF;
  IF signup_table <> '' AND live IS NOT NULL THEN
    IF restored IS NULL THEN
      EXECUTE format('SELECT count(*) FROM %s', live) INTO later;
    ELSE
      -- Ids never go backwards: a signup taken after the restore must not reuse one.
      PERFORM pg_temp.waitlist_sequences_past(live, restored);
      -- Most live signups are the backup's own under the same id and email: a merge join on
      -- the primary keys rules them out cheaply, and only the few left are looked up by
      -- email (case-insensitive) once they are counted, so the planner sees how few they are.
      EXECUTE format(
        'CREATE TEMP TABLE waitlist_restore_changed ON COMMIT DROP AS '
        'SELECT l.* FROM %1$s l WHERE NOT EXISTS '
        '(SELECT 1 FROM %2$s r WHERE r.%4$I = l.%4$I AND r.%3$I = l.%3$I)',
        live, restored, signup_key, signup_pk);
      ANALYZE waitlist_restore_changed;
      EXECUTE format(
        'CREATE TEMP TABLE waitlist_restore_later ON COMMIT DROP AS '
        'SELECT c.*, EXISTS (SELECT 1 FROM %1$s r WHERE r.%3$I = c.%3$I) AS waitlist_pk_taken '
        'FROM waitlist_restore_changed c WHERE NOT EXISTS '
        '(SELECT 1 FROM %1$s r WHERE lower(r.%2$I) = lower(c.%2$I))',
        restored, signup_key, signup_pk);
      GET DIAGNOSTICS later = ROW_COUNT;
      IF ledger IS NOT NULL AND NOT exact AND later > 0 THEN
        later_erased := pg_temp.waitlist_erase('waitlist_restore_later', ledger, signup_key,
                                               signup_created, erasure_hash, erasure_at,
                                               NULL, signup_pk);
        erased := erased + later_erased;
        later := later - later_erased;
      END IF;
    END IF;
    IF exact THEN
      IF later > removes_at_most THEN
        RAISE EXCEPTION 'The exact restore would now remove % signup(s), more than the % '
          'confirmed (signups arrived meanwhile); nothing was changed.', later, removes_at_most;
      END IF;
      IF confirmed_newest_id IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %s WHERE %I > $1',
                       CASE WHEN restored IS NULL THEN live::text
                            ELSE 'waitlist_restore_later' END, signup_pk)
          INTO unconfirmed USING confirmed_newest_id;
        IF unconfirmed > 0 THEN
          RAISE EXCEPTION 'The exact restore would now remove % signup(s) that arrived after '
            'it was confirmed; nothing was changed. Confirm again.', unconfirmed;
        END IF;
      END IF;
      removed := later;
    ELSIF later > 0 AND restored IS NULL THEN
      RAISE EXCEPTION 'The backup has no table %, so the % signup(s) it lacks cannot be kept; '
        'nothing was changed. Restore with --exact to drop them.', signup_table, later;
    ELSIF later > 0 THEN
      cols := pg_temp.waitlist_columns(live, restored, NULL);
      cols_no_pk := pg_temp.waitlist_columns(live, restored, signup_pk);
      BEGIN
        EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM waitlist_restore_later '
                       'WHERE NOT waitlist_pk_taken', restored, cols, cols);
        EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM waitlist_restore_later '
                       'WHERE waitlist_pk_taken', restored, cols_no_pk, cols_no_pk);
        kept := later;
      EXCEPTION WHEN others THEN
        IF NOT may_stay_behind THEN
          RAISE EXCEPTION 'The % signup(s) the backup lacks cannot be kept in its schema (%);'
            ' nothing was changed. Restore with --merge instead, or --exact to drop them.',
            later, SQLERRM;
        END IF;
      END;
      IF kept = 0 THEN
        -- One by one: keep each that the older schema takes; park the others, durably and
        -- in this same transaction, in a table of their own (in every backup from now on).
        FOR row_id, taken IN SELECT ctid, waitlist_pk_taken FROM waitlist_restore_later LOOP
          BEGIN
            EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM waitlist_restore_later '
                           'WHERE ctid = $1', restored,
                           CASE WHEN taken THEN cols_no_pk ELSE cols END,
                           CASE WHEN taken THEN cols_no_pk ELSE cols END) USING row_id;
            kept := kept + 1;
          EXCEPTION WHEN others THEN
            failed := failed || row_id;
          END;
        END LOOP;
        left_behind := cardinality(failed);
        IF left_behind > 0 THEN
          parked := parked_name;
          EXECUTE format('CREATE TABLE public.%I AS SELECT * FROM waitlist_restore_later '
                         'WHERE ctid = ANY($1)', parked) USING failed;
          EXECUTE format('ALTER TABLE public.%I DROP COLUMN waitlist_pk_taken', parked);
        END IF;
      END IF;
    END IF;
  END IF;

  INSERT INTO waitlist_restore_outcome VALUES (kept, removed, left_behind, parked, erased);
END
$keep$;
SELECT {quote_text(OUTCOME_MARKER)} || kept || '|' || removed || '|' || left_behind || '|'
  || parked || '|' || erased || '|' FROM waitlist_restore_outcome;
DO $drop$
DECLARE tables text;
BEGIN
  -- No CASCADE: anything of the operator's that depends on the live tables (a view, a
  -- foreign key) stops the restore with an error instead of vanishing with them.
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
    FROM pg_catalog.pg_tables WHERE schemaname = '{KEEP_SCHEMA}';
  IF tables IS NOT NULL THEN
    EXECUTE 'DROP TABLE ' || tables;
  END IF;
END
$drop$;
DROP SCHEMA {KEEP_SCHEMA};
"""
