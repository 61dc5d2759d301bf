"""SQLite backups as SQL text (docs/spec.md §4.1), restorable with `sqlite3 new.db < backup-….sql`.

Dumps read one transaction in WAL mode, so signups keep committing meanwhile, and the row counts
come from that same transaction. The sqlite3 shell writes the dump when it is installed (it is
about three times faster than Python); otherwise Python's `iterdump()` writes the same SQL.
Restores are built in a scratch file and checked; then one IMMEDIATE transaction on the live
database carries over the live rows a restore keeps and replaces every table: every other
connection sees the old database or the restored one, and a killed restore commits nothing.
"""

import contextlib
import dataclasses
import fcntl
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from backups_app import conf
from backups_app.engines.base import (
    ROW_BATCH,
    BaseEngine,
    DumpSnapshot,
    ErasureRules,
    RestoreOutcome,
    RestoreRules,
    ScratchDatabase,
    child_stdout,
    compare_counts,
    drain,
    exit_description,
    is_left_behind_table,
    left_behind_table_name,
    quote_name,
    quote_text,
    stderr_tail,
)
from backups_app.exceptions import BackupBusy, DumpError, EngineNotSupported, RestoreError

# How much of the dump's SQL a restore runs as one script: fewer calls into sqlite3 than a
# statement at a time, and never more than about a MiB of text in memory.
SCRIPT_BATCH_BYTES = 1 << 20
# A line that starts, after blanks, with "." (a sqlite3 shell command when between statements):
# searched for from its newline, which the regex engine finds fast; the first line is matched.
SHELL_COMMAND = re.compile(r"\n([ \t]*\.)")
SHELL_COMMAND_FIRST = re.compile(r"[ \t]*\.")
SCRATCH_PREFIX = ".restore-"
DUMP_SCRATCH_PREFIX = ".dump-"
# Where /proc cannot say whether a scratch folder is open, one untouched this long is left over.
SCRATCH_IDLE_SECONDS = 3600
TABLES_SQL = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)
# What a dump may do while it is built into the scratch file (docs/spec.md §8.2): what `.dump` and
# iterdump() write (PRAGMA foreign_keys=OFF, BEGIN, CREATE, INSERT, DELETE FROM sqlite_sequence,
# ANALYZE sqlite_schema with statistics, PRAGMA writable_schema around virtual tables, COMMIT)
# and what SQLite does on their behalf (writing sqlite_master, reindexing, the functions of
# CHECK constraints and indexes). Everything else is denied: ATTACH and VACUUM (which write
# files anywhere), DETACH, other PRAGMAs, DROP, ALTER, UPDATE, savepoints, temporary objects,
# and the functions that load extensions or read and write files.
DUMP_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_ANALYZE,
    }
)
DUMP_DELETES = frozenset(
    {"sqlite_sequence", "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4"}
)
#: How sqlite3 turns `PRAGMA writable_schema` on; the dump may then write sqlite_master itself.
SCHEMA_WRITES_ON = frozenset({"on", "1", "true"})
DUMP_PRAGMAS = frozenset(
    {("foreign_keys", value) for value in ("off", "0", "false", "no")}
    | {("writable_schema", value) for value in SCHEMA_WRITES_ON | {"off", "0", "false"}}
)
DENIED_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage"}
)
ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "ALTER_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_VTABLE",
        "DELETE",
        "DETACH",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "DROP_VTABLE",
        "RECURSIVE",
        "SAVEPOINT",
        "UPDATE",
    )
}
# Text of nothing but blanks and comments: the line after it starts a statement.
BLANKS_AND_COMMENTS = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


class SQLiteEngine(BaseEngine):
    vendor = "sqlite"
    completion_marker = b"COMMIT;"

    @property
    def path(self) -> Path:
        name = str(self.settings_dict["NAME"] or "")
        if not name or name == ":memory:" or "mode=memory" in name:
            raise EngineNotSupported("An in-memory SQLite database cannot be backed up.")
        return Path(name)

    @property
    def busy_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 20))

    def open(self, path: Path | None = None) -> sqlite3.Connection:
        """A connection of our own, in autocommit mode so transactions are ours to begin."""
        return sqlite3.connect(path or self.path, timeout=self.busy_timeout, isolation_level=None)

    @classmethod
    def is_complete(cls, tail: bytes) -> bool:
        return tail.rstrip().endswith(cls.completion_marker)

    # --- lock ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, *, timeout: float) -> Iterator[None]:
        """An exclusive lock on a file beside the database: one backup or restore at a time."""
        lock_path = self.path.with_name(self.path.name + ".backup-lock")
        with lock_path.open("a") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BackupBusy(
                            f"Another backup or restore is running (waited {timeout:g} s); "
                            "try again when it has finished."
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- dump ------------------------------------------------------------------------------------
    def dump(self, *, out: IO[bytes], queries: dict[str, str]) -> DumpSnapshot:
        if not self.path.is_file():
            raise DumpError(f"The SQLite database {self.path} does not exist.")
        with contextlib.closing(self.open()) as connection:
            tables = [row[0] for row in connection.execute(TABLES_SQL)]
        shell = shutil.which(conf.sqlite3_path())
        if shell:
            return self._dump_with_shell(shell, out, tables, queries)
        return self._dump_with_python(out, queries)

    def _dump_with_shell(
        self, shell: str, out: IO[bytes], tables: list[str], queries: dict[str, str]
    ) -> DumpSnapshot:
        # Beside the database, like the restore's scratch: a killed dump's files are found and
        # cleared by the next worker pass.
        with tempfile.TemporaryDirectory(
            prefix=DUMP_SCRATCH_PREFIX, dir=self.path.parent
        ) as folder:
            counts_file = Path(folder) / "counts.tsv"
            query_files = {name: Path(folder) / f"query-{n}.tsv" for n, name in enumerate(queries)}
            # One transaction for the counts and the dump: they describe the same data.
            script = [
                ".bail on",
                f".timeout {int(self.busy_timeout * 1000)}",
                ".headers off",
                ".mode tabs",
                "BEGIN;",
            ]
            if tables:
                script += [f".once {quote_text(str(counts_file))}", count_sql(tables) + ";"]
            for name, query in queries.items():
                script += [f".once {quote_text(str(query_files[name]))}", query + ";"]
            script += [".dump", "COMMIT;", ""]
            stdout = child_stdout(out)
            with tempfile.TemporaryFile() as stderr:
                try:
                    process = subprocess.Popen(
                        [shell, "-batch", "-bail", str(self.path)],
                        stdin=subprocess.PIPE,
                        stdout=stdout,
                        stderr=stderr,
                    )
                except OSError as err:
                    raise DumpError(f"Cannot run the sqlite3 shell: {err.strerror}") from err
                try:
                    process.stdin.write("\n".join(script).encode())
                    process.stdin.close()
                except BrokenPipeError:  # the shell ended before reading: its exit says why
                    with contextlib.suppress(OSError):
                        process.stdin.close()
                except BaseException:
                    process.kill()
                    process.wait()
                    raise
                returncode = drain(process, out)
                if returncode != 0:
                    raise DumpError(
                        f"sqlite3 .dump failed ({exit_description(returncode)}): "
                        f"{stderr_tail(stderr)}"
                    )
            if stdout is not subprocess.PIPE:
                # The shell ignores its failed writes (a full disk) and still exits 0. So the
                # file it wrote must end complete; if not, writing there again says why.
                raw = getattr(out, "raw", out)
                size = raw.seek(0, io.SEEK_END)
                raw.seek(max(0, size - 256))
                if not self.is_complete(raw.read()):
                    error = None
                    try:
                        for _ in range(16):  # a short write first, then the error it hid
                            raw.write(b"\n" * 65536)
                    except OSError as err:
                        error = err
                    finally:
                        raw.truncate(size)
                        raw.seek(size)
                    where = Path(str(getattr(out, "name", "."))).parent
                    if error is not None:
                        raise DumpError(
                            f"Writing the dump into {where} failed: {error.strerror} (the sqlite3 "
                            f"shell had written {size:,} bytes when it could write no more)."
                        ) from error
                    raise DumpError(
                        f"The sqlite3 shell exited normally, but the dump it wrote into {where} "
                        f"stops after {size:,} bytes, before its final COMMIT (a write failed)."
                    )
            row_counts = {}
            if tables:
                for line in counts_file.read_text().splitlines():
                    table, _, count = line.rpartition("\t")
                    row_counts[table] = int(count)
            query_rows = {
                name: [tuple(line.split("\t")) for line in path.read_text().splitlines()]
                for name, path in query_files.items()
            }
        return DumpSnapshot(row_counts=row_counts, query_rows=query_rows)

    def _dump_with_python(self, out: IO[bytes], queries: dict[str, str]) -> DumpSnapshot:
        try:
            with contextlib.closing(self.open()) as connection:
                connection.execute("BEGIN")
                row_counts = count_rows(connection)
                query_rows = {
                    name: connection.execute(query).fetchall() for name, query in queries.items()
                }
                out.write(b"PRAGMA foreign_keys=OFF;\n")
                lines: list[str] = []
                for line in connection.iterdump():
                    lines.append(line)
                    if len(lines) >= 2000:
                        out.write(("\n".join(lines) + "\n").encode())
                        lines = []
                out.write(("\n".join(lines) + "\n").encode())
                connection.execute("COMMIT")
        except sqlite3.Error as err:
            raise DumpError(f"SQLite error during the dump: {err}") from err
        return DumpSnapshot(row_counts=row_counts, query_rows=query_rows)

    # --- restore ---------------------------------------------------------------------------------
    def restore(
        self, *, sql: IO[bytes], expected_counts: dict[str, int], rules: RestoreRules
    ) -> RestoreOutcome:
        """Build the dump in a scratch file and check its counts (the live database untouched),
        then, in one IMMEDIATE transaction on the live database (signups wait on the busy
        timeout; none fails or is lost): carry the kept live rows into the scratch copy and
        replace every table with it. A killed process leaves that transaction uncommitted."""
        with self._scratch_file() as scratch_path:
            self._build(scratch_path, sql)
            with contextlib.closing(self.open(scratch_path)) as scratch:
                mismatches = compare_counts(count_rows(scratch), expected_counts)
            if mismatches:
                raise RestoreError(
                    "The restored data does not match the manifest; nothing was changed: "
                    + "; ".join(mismatches)
                )
            live = self.open()
            try:
                live.execute("ATTACH DATABASE ? AS restored", [str(scratch_path)])
                live.execute("PRAGMA restored.journal_mode=MEMORY")
                live.execute("PRAGMA restored.synchronous=OFF")
                live.execute("BEGIN IMMEDIATE")
                outcome = _carry_live_rows(live, rules)
                _replace_main_with_restored(live)
                live.execute("COMMIT")
                # The swap wrote the whole database into the WAL; give the space back now
                # rather than at some later checkpoint (best effort while others read).
                live.execute("PRAGMA main.wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                raise RestoreError(
                    f"Putting the restored data in place failed; nothing was changed: {err}"
                ) from err
            finally:
                if live.in_transaction:
                    live.execute("ROLLBACK")
                live.close()
        return outcome

    def erased_signup_ids(self, *, rules: RestoreRules) -> list[int]:
        """The live signups the erasure ledger covers, matched by `rules.erasure.matcher`."""
        erasure = rules.erasure
        if erasure is None or not rules.signup_table:
            return []
        with contextlib.closing(self.open()) as connection:
            covers = _erasure_matcher(connection, rules, schema="main")
            if covers is None:
                return []
            signed_up = _signed_up_column(connection, rules, "main")
            rows = connection.execute(
                f"SELECT {quote_name(rules.signup_pk)}, {quote_name(rules.signup_key)}, "
                f"{signed_up} FROM main.{quote_name(rules.signup_table)} ORDER BY 1"
            )
            return [pk for pk, email, at in rows if covers(email, at)]

    @contextlib.contextmanager
    def scratch(self, *, sql: IO[bytes]) -> Iterator[ScratchDatabase]:
        with self._scratch_file() as scratch_path:
            self._build(scratch_path, sql)
            with contextlib.closing(self.open(scratch_path)) as connection:
                yield SQLiteScratch(connection)

    def scratch_leftovers_remove(self) -> list[str]:
        """Remove the `.restore-*` and `.dump-*` scratch folders beside the database that no
        process has open."""
        removed = []
        folders = [
            *self.path.parent.glob(SCRATCH_PREFIX + "*"),
            *self.path.parent.glob(DUMP_SCRATCH_PREFIX + "*"),
        ]
        for path in sorted(folders):
            if not path.is_dir() or _in_use(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        return removed

    @contextlib.contextmanager
    def _scratch_file(self) -> Iterator[Path]:
        # Beside the live database: same file system, and a folder SQLite can already write in.
        folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.path.parent))
        try:
            yield folder / "scratch.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _build(self, scratch_path: Path, sql: IO[bytes]) -> None:
        """Run the dump's SQL into a new database file, in chunks of whole statements, allowing
        it nothing but what a dump does (DumpAuthorizer): RestoreError names what was refused,
        as it does a sqlite3 shell command (a line starting with "." between statements)."""
        connection = self.open(scratch_path)
        authorizer = DumpAuthorizer()
        try:
            # A throwaway file: no journal, no fsync.
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            connection.set_authorizer(authorizer)
            text = io.TextIOWrapper(sql, encoding="utf-8", newline="")
            # Read in blocks, not lines: a million lines cost a second of Python otherwise.
            pending, first_line = "", 1
            while block := text.read(SCRIPT_BATCH_BYTES):
                scan_from = pending.rfind("\n") + 1  # the start of the unfinished line
                pending += block
                _refuse_shell_commands(pending, scan_from=scan_from, first_line=first_line)
                cut = _after_last_statement(pending)
                if cut:
                    self._run(connection, authorizer, pending[:cut])
                    first_line += pending.count("\n", 0, cut)
                    pending = pending[cut:]
            scan_from = pending.rfind("\n") + 1
            _refuse_shell_commands(pending, scan_from=scan_from, first_line=first_line, last=True)
            if pending.strip():
                self._run(connection, authorizer, pending)
            if connection.in_transaction:
                raise RestoreError("The dump ends early (its final COMMIT is missing).")
        except sqlite3.Error as err:
            if authorizer.refused:
                raise RestoreError(
                    f"The dump {authorizer.refused}, which no dump written for us does; it was "
                    "refused and nothing was changed."
                ) from err
            raise RestoreError(f"The dump does not restore: {err}") from err
        except UnicodeDecodeError as err:
            raise RestoreError(f"The dump is not UTF-8 SQL text: {err}") from err
        finally:
            connection.close()
        if authorizer.wrote_schema:
            self._check_integrity(scratch_path)

    def _check_integrity(self, scratch_path: Path) -> None:
        """Refuse a copy that fails SQLite's integrity check, read afresh. Run when a dump wrote
        sqlite_master itself: it could have declared an index UNIQUE over duplicate rows, or
        pointed an entry at another object's pages, and the swap copies tables with their
        indexes as they are."""
        try:
            with contextlib.closing(self.open(scratch_path)) as connection:
                problems = [row[0] for row in connection.execute("PRAGMA integrity_check(5)")]
        except sqlite3.Error as err:
            problems = [str(err)]
        if problems != ["ok"]:
            raise RestoreError(
                "The dump writes SQLite's schema table itself (PRAGMA writable_schema), and the "
                "database it builds fails SQLite's integrity check; nothing was changed: "
                + "; ".join(problems)
            )

    @staticmethod
    def _run(connection: sqlite3.Connection, authorizer: "DumpAuthorizer", script: str) -> None:
        # executescript() commits an open transaction before it runs; reopen it so the dump's
        # BEGIN ... COMMIT still spans every chunk (one transaction, not one per statement).
        prefix = "BEGIN;\n" if connection.in_transaction else ""
        authorizer.commit_expected = connection.in_transaction
        connection.executescript(prefix + script)

    # --- live counts -----------------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        with contextlib.closing(self.open()) as connection:
            connection.execute("BEGIN")
            counts = count_rows(connection)
            connection.execute("COMMIT")
            return counts


class DumpAuthorizer:
    """The sqlite3 authorizer of a scratch build: allows what a dump does (DUMP_ACTIONS and the
    conditions below), nothing after the dump's final COMMIT, and remembers the first refusal."""

    def __init__(self) -> None:
        self.refused = ""
        self.ended = False
        #: The COMMIT that executescript() runs of its own before the next chunk.
        self.commit_expected = False
        #: Whether the dump turned PRAGMA writable_schema on (and so could edit sqlite_master).
        self.wrote_schema = False

    def __call__(self, action: int, arg1, arg2, database, source) -> int:
        # Called as each statement is compiled (a million times for a million signups): the
        # INSERT of a row is decided first.
        if action == sqlite3.SQLITE_INSERT and database == "main" and not self.ended:
            return sqlite3.SQLITE_OK
        refusal = self.refusal(action, arg1, arg2, database)
        if refusal is None:
            return sqlite3.SQLITE_OK
        self.refused = self.refused or refusal
        return sqlite3.SQLITE_DENY

    def refusal(self, action: int, arg1, arg2, database) -> str | None:
        """None when the dump may do this; else what it tried, in words."""
        if self.ended:
            return "goes on after its final COMMIT"
        if database not in (None, "main"):
            return f"writes into the database {database!r}"
        if action in DUMP_ACTIONS:
            return None
        if action == sqlite3.SQLITE_TRANSACTION and arg1 in ("BEGIN", "COMMIT"):
            if arg1 == "COMMIT" and not self.commit_expected:
                self.ended = True  # the dump's own: nothing may follow it
            self.commit_expected = False
            return None
        if action == sqlite3.SQLITE_DELETE and arg1 in DUMP_DELETES:
            return None
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            return None  # SQLite recording a CREATE
        if action == sqlite3.SQLITE_PRAGMA and (arg1.lower(), str(arg2).lower()) in DUMP_PRAGMAS:
            if arg1.lower() == "writable_schema" and str(arg2).lower() in SCHEMA_WRITES_ON:
                self.wrote_schema = True
            return None
        if action == sqlite3.SQLITE_FUNCTION and arg2.lower() not in DENIED_FUNCTIONS:
            return None
        return "runs " + self.describe(action, arg1, arg2)

    @staticmethod
    def describe(action: int, arg1, arg2) -> str:
        if action == sqlite3.SQLITE_ATTACH:
            return f"ATTACH DATABASE or VACUUM INTO {arg1!r}" if arg1 else "VACUUM"
        if action == sqlite3.SQLITE_PRAGMA:
            return f"PRAGMA {arg1}" + ("" if arg2 is None else f"={arg2}")
        if action == sqlite3.SQLITE_FUNCTION:
            return f"the SQL function {arg2}()"
        if action == sqlite3.SQLITE_TRANSACTION:
            return str(arg1)
        return f"{ACTION_NAMES.get(action, f'action {action}')} {arg1 or ''}".strip()


def _between_statements(text: str) -> bool:
    """Whether `text` (which starts between two statements) ends between two: a line after it
    that starts with "." is then a sqlite3 shell command, not part of a string."""
    return sqlite3.complete_statement(text) or BLANKS_AND_COMMENTS.fullmatch(text) is not None


def _refuse_shell_commands(
    text: str, *, scan_from: int, first_line: int, last: bool = False
) -> None:
    """Refuse a sqlite3 shell command (a line starting with "." between two statements) in
    `text` (which starts between statements, its first line numbered `first_line`), looking
    at the lines from `scan_from` on; a "." line inside a string is data. An unfinished line
    is left for the next look, once more of it is read, unless this is the `last` one."""
    first = SHELL_COMMAND_FIRST.match(text, scan_from)
    starts = [scan_from] if first else []
    starts += (match.start(1) for match in SHELL_COMMAND.finditer(text, scan_from))
    for start in starts:
        end = text.find("\n", start)
        if end < 0 and not last:
            continue
        if _between_statements(text[:start]):
            line = text[start : end if end >= 0 else len(text)]
            number = first_line + text.count("\n", 0, start)
            raise RestoreError(
                f"The dump contains the sqlite3 shell command `{line.strip()[:80]}` "
                f"(line {number}); a restore runs nothing but the dump's SQL, so it was "
                "refused and nothing was changed."
            )


def _after_last_statement(text: str) -> int:
    """Where the whole statements at the start of `text` end (after the line of its last
    semicolon, when everything before is complete SQL), or 0 when they do not yet."""
    semicolon = text.rfind(";")
    newline = text.find("\n", semicolon) if semicolon >= 0 else -1
    if newline < 0 or not sqlite3.complete_statement(text[: newline + 1]):
        return 0
    return newline + 1


class SQLiteScratch(ScratchDatabase):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def row_counts(self) -> dict[str, int]:
        return count_rows(self.connection)

    def columns(self, table: str) -> list[str]:
        return [
            row[1] for row in self.connection.execute(f"PRAGMA table_info({quote_name(table)})")
        ]

    def iter_rows(self, table: str, columns: list[str]) -> Iterator[list[tuple]]:
        column_list = ", ".join(quote_name(c) for c in columns)
        cursor = self.connection.execute(
            f"SELECT {column_list} FROM {quote_name(table)} ORDER BY 1"
        )
        while batch := cursor.fetchmany(ROW_BATCH):
            yield batch


def count_sql(tables: list[str]) -> str:
    return " UNION ALL ".join(
        f"SELECT {quote_text(t)}, count(*) FROM {quote_name(t)}" for t in tables
    )


def count_rows(connection: sqlite3.Connection) -> dict[str, int]:
    tables = [row[0] for row in connection.execute(TABLES_SQL)]
    if not tables:
        return {}
    return {table: count for table, count in connection.execute(count_sql(tables))}


def _columns(connection: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [
        row[1] for row in connection.execute(f"PRAGMA {schema}.table_info({quote_name(table)})")
    ]


def _common_columns(connection: sqlite3.Connection, table: str, skip: str = "") -> str:
    live = set(_columns(connection, "main", table))
    return ", ".join(
        quote_name(c) for c in _columns(connection, "restored", table) if c in live and c != skip
    )


def _carry_live_rows(connection: sqlite3.Connection, rules: RestoreRules) -> RestoreOutcome:
    """Into the restored copy (attached as `restored`): the kept tables' live rows, the live
    signups the backup lacks (unless `exact`), and sequences past every id either side used."""
    erasure_table = rules.erasure.table if rules.erasure else ""
    ledger_news = None  # erasures the backup has and the live ledger lacks; None: unknown
    for table in rules.kept_tables:
        if not _exists(connection, "main", table):
            continue
        if not _exists(connection, "restored", table):
            # The backup predates this table: it would go, and its live rows with it.
            if connection.execute(f"SELECT 1 FROM main.{quote_name(table)} LIMIT 1").fetchone():
                raise RestoreError(
                    f"The backup predates the table {table} (staff accounts, sessions or a "
                    "ledger), whose live rows a restore keeps; nothing was changed. Restore a "
                    "newer backup, or re-insert its signups with --merge."
                )
            continue
        if table == erasure_table:
            ledger_news = _ledger_union(connection, rules.erasure)
            continue
        columns = _common_columns(connection, table)
        connection.execute(f"DELETE FROM restored.{quote_name(table)}")
        connection.execute(
            f"INSERT INTO restored.{quote_name(table)} ({columns}) "
            f"SELECT {columns} FROM main.{quote_name(table)}"
        )
    # Signups a rollback parked stay as they are, untouched by any restore.
    for (name,) in connection.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table'"
    ).fetchall():
        if is_left_behind_table(name, rules.signup_table) and not _exists(
            connection, "restored", name
        ):
            connection.execute(
                f"CREATE TABLE restored.{quote_name(name)} AS SELECT * FROM main.{quote_name(name)}"
            )
    _sequences_past(connection, [*rules.kept_tables, rules.signup_table])
    # Erased fans stay erased (§12): the backup's signups of an address erased at or after they
    # signed up go first (so a fan who signed up again since is one of the later signups), then
    # any later one the ledger covers.
    covers = _erasure_matcher(connection, rules)
    erased = 0
    if covers:
        # The live table honoured its own ledger: unless the backup brings erasures it lacked,
        # only the backup's rows it does not hold need checking.
        erased = _erase_restored_signups(connection, rules, covers, only_changed=ledger_news == 0)
    outcome = _carry_live_signups(connection, rules, covers)
    return dataclasses.replace(outcome, signups_kept_erased=erased + outcome.signups_kept_erased)


def _carry_live_signups(
    connection: sqlite3.Connection,
    rules: RestoreRules,
    covers: Callable[[str, object], bool] | None,
) -> RestoreOutcome:
    """Into the restored copy: the live signups the backup lacks (unless `exact`), but none
    that `covers` (the erasure ledger) names."""
    table = rules.signup_table
    if not (table and _exists(connection, "main", table)):
        return RestoreOutcome()
    key, target = quote_name(rules.signup_key), quote_name(table)
    if not _exists(connection, "restored", table):
        later = connection.execute(f"SELECT count(*) FROM main.{target}").fetchone()[0]
        if rules.exact or not later:
            everyone = [r[0] for r in connection.execute(f"SELECT rowid FROM main.{target}")]
            _refuse_unconfirmed(connection, rules, everyone)
            return RestoreOutcome(signups_removed=later)
        raise RestoreError(
            f"The backup has no table {table}, so the {later} signup(s) it lacks cannot be "
            "kept; nothing was changed. Restore with --exact to drop them."
        )
    # Most live signups are the backup's own under the same id and email: a lookup by primary
    # key rules them out cheaply; only the few left are looked up by email (case-insensitive,
    # through the restored table's index on lower(email)).
    pk = quote_name(rules.signup_pk)
    changed = [
        row[0]
        for row in connection.execute(
            f"SELECT m.rowid FROM main.{target} AS m WHERE NOT EXISTS (SELECT 1 FROM "
            f"restored.{target} AS r WHERE r.{pk} = m.{pk} AND r.{key} = m.{key})"
        )
    ]
    rowids = [
        row[0]
        for row in connection.execute(
            f"SELECT m.rowid FROM main.{target} AS m "
            "WHERE m.rowid IN (SELECT value FROM json_each(?)) AND NOT EXISTS (SELECT 1 FROM "
            f"restored.{target} AS r WHERE lower(r.{key}) = lower(m.{key}))",
            [json.dumps(changed)],
        )
    ]
    if rules.exact:
        _refuse_unconfirmed(connection, rules, rowids)
        return RestoreOutcome(signups_removed=len(rowids))
    later_erased = 0
    if covers and rowids:
        erased_rowids = _erased_live_rowids(connection, rules, covers, rowids)
        rowids = [rowid for rowid in rowids if rowid not in erased_rowids]
        later_erased = len(erased_rowids)
    kept, failed, error = _keep_later_signups(connection, rules, rowids)
    if failed and not rules.later_signups_may_stay_behind:
        raise RestoreError(
            f"The {len(rowids)} signup(s) the backup lacks cannot be kept in its schema "
            f"({error}); nothing was changed. Restore with --merge instead, or --exact to drop "
            "them."
        )
    parked = ""
    if failed:
        # Parked durably, in this same transaction, in a table of their own.
        parked = left_behind_table_name(table)
        marks = ", ".join("?" * len(failed))
        connection.execute(
            f"CREATE TABLE restored.{quote_name(parked)} AS "
            f"SELECT * FROM main.{target} WHERE rowid IN ({marks})",
            failed,
        )
    return RestoreOutcome(
        signups_kept=kept,
        signups_left_behind=len(failed),
        left_behind_table=parked,
        signups_kept_erased=later_erased,
    )


def _ledger_union(connection: sqlite3.Connection, erasure: ErasureRules) -> int:
    """An erasure is never undone: the backup's ledger plus every live erasure it lacks (under
    new ids where the backup uses theirs). Returns how many erasures the backup has that the
    live ledger lacks."""
    table = quote_name(erasure.table)
    columns = _common_columns(connection, erasure.table, skip=erasure.pk)
    digest, at = quote_name(erasure.hash_column), quote_name(erasure.at_column)
    news = connection.execute(
        f"SELECT count(*) FROM restored.{table} AS r WHERE NOT EXISTS (SELECT 1 FROM "
        f"main.{table} AS l WHERE l.{digest} = r.{digest} AND l.{at} = r.{at})"
    ).fetchone()[0]
    connection.execute(
        f"INSERT INTO restored.{table} ({columns}) SELECT {columns} FROM main.{table} AS l "
        f"WHERE NOT EXISTS (SELECT 1 FROM restored.{table} AS r "
        f"WHERE r.{digest} = l.{digest} AND r.{at} = l.{at})"
    )
    return news


def _erasure_matcher(
    connection: sqlite3.Connection, rules: RestoreRules, *, schema: str = "restored"
) -> Callable[[str, object], bool] | None:
    """Whether an (address, signed up) belongs to an erased fan, by the ledger in `schema` (in
    a restore, the restored copy's: the union kept above); None when the ledger is empty."""
    erasure = rules.erasure
    if not (erasure and _exists(connection, schema, erasure.table)):
        return None
    ledger = connection.execute(
        f"SELECT {quote_name(erasure.hash_column)}, {quote_name(erasure.at_column)} "
        f"FROM {schema}.{quote_name(erasure.table)}"
    ).fetchall()
    if not ledger:
        return None
    if erasure.matcher is None:
        raise RestoreError(
            "The erasure ledger has entries but no way to match them was given; "
            "nothing was changed."
        )
    return erasure.matcher(ledger)


def _signed_up_column(connection: sqlite3.Connection, rules: RestoreRules, schema: str) -> str:
    """The signup time column, or NULL (an erasure then covers every signup of the address)."""
    created = rules.erasure.signup_created_column
    return (
        quote_name(created)
        if created in _columns(connection, schema, rules.signup_table)
        else "NULL"
    )


def _erase_restored_signups(
    connection: sqlite3.Connection,
    rules: RestoreRules,
    covers: Callable[[str, object], bool],
    *,
    only_changed: bool,
) -> int:
    """Remove the erased fans' signups from the restored copy; how many went. With
    `only_changed`, rows the live table holds under the same id and address are not even
    read: SQLite would call a registered function on every row before a subquery."""
    if not _exists(connection, "restored", rules.signup_table):
        return 0
    target, key = quote_name(rules.signup_table), quote_name(rules.signup_key)
    signed_up = _signed_up_column(connection, rules, "restored")
    signed_up = "NULL" if signed_up == "NULL" else f"r.{signed_up}"
    unchanged = ""
    if only_changed and _exists(connection, "main", rules.signup_table):
        pk = quote_name(rules.signup_pk)
        unchanged = (
            f" WHERE NOT EXISTS (SELECT 1 FROM main.{target} AS l WHERE l.{pk} = r.{pk} "
            f"AND l.{key} = r.{key})"
        )
    rows = connection.execute(
        f"SELECT r.rowid, r.{key}, {signed_up} FROM restored.{target} AS r{unchanged}"
    )
    erased = [rowid for rowid, email, at in rows if covers(email, at)]
    if erased:
        connection.execute(
            f"DELETE FROM restored.{target} WHERE rowid IN (SELECT value FROM json_each(?))",
            [json.dumps(erased)],
        )
    return len(erased)


def _erased_live_rowids(
    connection: sqlite3.Connection,
    rules: RestoreRules,
    covers: Callable[[str, object], bool],
    rowids: list[int],
) -> set[int]:
    """Which of the live signups `rowids` belong to erased fans."""
    signed_up = _signed_up_column(connection, rules, "main")
    rows = connection.execute(
        f"SELECT rowid, {quote_name(rules.signup_key)}, {signed_up} "
        f"FROM main.{quote_name(rules.signup_table)} "
        "WHERE rowid IN (SELECT value FROM json_each(?))",
        [json.dumps(rowids)],
    )
    return {rowid for rowid, email, at in rows if covers(email, at)}


def _refuse_unconfirmed(
    connection: sqlite3.Connection, rules: RestoreRules, rowids: list[int]
) -> None:
    """Refuse an exact restore that would remove more signups than were confirmed, or one
    newer than those shown."""
    confirmed = rules.exact_confirmed
    if not rules.exact or confirmed is None:
        return
    if len(rowids) > confirmed.removes:
        raise RestoreError(
            f"The exact restore would now remove {len(rowids)} signup(s), more than the "
            f"{confirmed.removes} confirmed (signups arrived meanwhile); nothing was changed."
        )
    target, pk = quote_name(rules.signup_table), quote_name(rules.signup_pk)
    unconfirmed = connection.execute(
        f"SELECT count(*) FROM main.{target} WHERE rowid IN (SELECT value FROM json_each(?)) "
        f"AND {pk} > ?",
        [json.dumps(rowids), confirmed.newest_id],
    ).fetchone()[0]
    if unconfirmed:
        raise RestoreError(
            f"The exact restore would now remove {unconfirmed} signup(s) that arrived after it "
            "was confirmed; nothing was changed. Confirm again."
        )


def _keep_later_signups(
    connection: sqlite3.Connection, rules: RestoreRules, rowids: list[int]
) -> tuple[int, list[int], str]:
    """Insert the live signups `rowids` into the restored table (under a new id where the
    backup uses theirs): all at once, or else one by one. Returns (kept, rowids the restored
    schema refused, the first refusal)."""
    if not rowids:
        return 0, [], ""
    target, pk = quote_name(rules.signup_table), quote_name(rules.signup_pk)
    taken = {
        row[0]
        for row in connection.execute(
            f"SELECT rowid FROM main.{target} WHERE rowid IN (SELECT value FROM json_each(?)) "
            f"AND {pk} IN (SELECT {pk} FROM restored.{target})",
            [json.dumps(rowids)],
        )
    }
    with_pk = _common_columns(connection, rules.signup_table)
    without_pk = _common_columns(connection, rules.signup_table, skip=rules.signup_pk)

    def insert(batch: list[int]) -> None:
        for names, chosen in (
            (with_pk, [r for r in batch if r not in taken]),
            (without_pk, [r for r in batch if r in taken]),
        ):
            if chosen:
                connection.execute(
                    f"INSERT INTO restored.{target} ({names}) SELECT {names} "
                    f"FROM main.{target} WHERE rowid IN (SELECT value FROM json_each(?))",
                    [json.dumps(chosen)],
                )

    connection.execute("SAVEPOINT keep_later_signups")
    try:
        insert(rowids)
        connection.execute("RELEASE keep_later_signups")
        return len(rowids), [], ""
    except sqlite3.Error as err:
        connection.execute("ROLLBACK TO keep_later_signups")
        connection.execute("RELEASE keep_later_signups")
        first_error = str(err)
    if not rules.later_signups_may_stay_behind:
        return 0, rowids, first_error
    kept, failed = 0, []
    for rowid in rowids:
        connection.execute("SAVEPOINT keep_one_signup")
        try:
            insert([rowid])
            kept += 1
        except sqlite3.Error:
            connection.execute("ROLLBACK TO keep_one_signup")
            failed.append(rowid)
        connection.execute("RELEASE keep_one_signup")
    return kept, failed, first_error


def _sequences_past(connection: sqlite3.Connection, tables: list[str]) -> None:
    """AUTOINCREMENT counters of the restored copy past the live ones: no id is used twice."""
    if not (
        _exists(connection, "main", "sqlite_sequence")
        and _exists(connection, "restored", "sqlite_sequence")
    ):
        return
    for table in filter(None, tables):
        live = connection.execute(
            "SELECT seq FROM main.sqlite_sequence WHERE name = ?", [table]
        ).fetchone()
        if live is None:
            continue
        connection.execute(
            "UPDATE restored.sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
            [live[0], table],
        )


def _exists(connection: sqlite3.Connection, schema: str, table: str) -> bool:
    return (
        connection.execute(
            f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?", [table]
        ).fetchone()
        is not None
    )


def _replace_main_with_restored(connection: sqlite3.Connection) -> None:
    """Inside the caller's transaction: drop every object of the live database and recreate it
    from the restored copy: tables and their indexes, then the rows, then triggers and views.

    The indexes go before the rows so that SQLite copies each table with its indexes as they
    are in the copy (its transfer optimisation for `INSERT INTO t SELECT * FROM t2` into an
    empty table whose indexes match), instead of sorting each index again afterwards: a
    third less time holding the write lock. Triggers come last so that none fires on the
    copy."""
    for kind in ("view", "trigger", "table"):
        names = connection.execute(
            "SELECT name FROM main.sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
            [kind],
        ).fetchall()
        for (name,) in names:
            connection.execute(f"DROP {kind.upper()} main.{quote_name(name)}")
    objects = connection.execute(
        "SELECT type, name, sql FROM restored.sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    for kind in ("table", "index"):
        for object_kind, _, sql in objects:
            if object_kind == kind:
                connection.execute(sql)
    for kind, name, _ in objects:
        if kind == "table":
            connection.execute(
                f"INSERT INTO main.{quote_name(name)} SELECT * FROM restored.{quote_name(name)}"
            )
    for kind in ("trigger", "view"):
        for object_kind, _, sql in objects:
            if object_kind == kind:
                connection.execute(sql)
    if _exists(connection, "restored", "sqlite_sequence"):
        connection.execute("DELETE FROM main.sqlite_sequence")
        connection.execute(
            "INSERT INTO main.sqlite_sequence (name, seq) "
            "SELECT name, seq FROM restored.sqlite_sequence"
        )


def _in_use(folder: Path) -> bool:
    """Whether any process has a file in `folder` open (read from /proc). Where /proc cannot
    tell, a folder with anything changed in the last SCRATCH_IDLE_SECONDS counts as in use."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        newest = max((p.stat().st_mtime for p in [folder, *folder.iterdir()]), default=time.time())
        return time.time() - newest < SCRATCH_IDLE_SECONDS
    inside = str(folder.resolve()) + os.sep
    for fd_folder in proc.glob("[0-9]*/fd"):
        try:
            descriptors = os.listdir(fd_folder)
        except OSError:  # gone meanwhile, or another user's
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(fd_folder / descriptor).startswith(inside):
                    return True
            except OSError:
                continue
    return False
