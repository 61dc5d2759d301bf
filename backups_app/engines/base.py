"""The contract every backup engine fulfils."""

import contextlib
import io
import secrets
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.db import connections

from backups_app import files

# pg_dump reads the same snapshot in parallel; elsewhere: how many rows to read at once.
ROW_BATCH = 5000
LEFT_BEHIND_INFIX = "_left_behind_"


@dataclass(frozen=True)
class DumpSnapshot:
    """What was read in the very snapshot the dump was taken from."""

    row_counts: dict[str, int]
    #: The rows each of the caller's queries returned, by the caller's name for it.
    query_rows: dict[str, list[tuple]]


@dataclass(frozen=True)
class ExactConfirmation:
    """What a person confirmed before an exact restore: it may remove at most `removes` signups,
    and none newer than `newest_id` (the newest when they were shown); else it is refused."""

    removes: int
    newest_id: int


@dataclass(frozen=True)
class ErasureRules:
    """The erasure ledger (§12), which a restore keeps and applies in its own transaction.

    The ledger keeps the union of its live rows and the backup's (an erasure is never undone),
    and every restored signup whose address was erased at or after it signed up is removed.
    An address is matched by its keyed hash: SQLite asks `matcher` (built from the ledger's
    (hash, erased_at) rows); PostgreSQL computes HMAC-SHA256 itself from `pads`, which reach it
    as a session setting, never in a statement's text.
    """

    table: str
    pk: str = "id"
    hash_column: str = "email_hash"
    at_column: str = "erased_at"
    signup_created_column: str = "created_at"
    matcher: Callable[[Iterable[tuple[str, object]]], Callable[[str, object], bool]] | None = field(
        default=None, repr=False, compare=False
    )
    pads: str = field(default="", repr=False)


@dataclass(frozen=True)
class RestoreRules:
    """What a full restore keeps from the live database at the moment of the swap (§4.5).

    `kept_tables` keep their live rows (staff accounts, sessions, the catalogue, the ledgers);
    the signups of `signup_table` that the backup lacks (by `signup_key`, case-insensitive)
    are kept too unless `exact` asks for the backup's signups only. When the backup's schema
    cannot take them, the restore fails, unless `later_signups_may_stay_behind` (a rollback
    into an older schema, which re-inserts what it can afterwards and names the rest).
    """

    kept_tables: tuple[str, ...] = ()
    signup_table: str = ""
    signup_key: str = "email"
    signup_pk: str = "id"
    exact: bool = False
    #: With `exact`: what a person confirmed; None: no limit (`--yes`).
    exact_confirmed: "ExactConfirmation | None" = None
    later_signups_may_stay_behind: bool = False
    #: The erasure ledger to keep and apply; None: no ledger.
    erasure: ErasureRules | None = None


def left_behind_table_name(signup_table: str) -> str:
    """A new, unique name for the table a rollback parks refused later signups in."""
    return (
        f"{signup_table}{LEFT_BEHIND_INFIX}{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    )


def is_left_behind_table(name: str, signup_table: str) -> bool:
    """Whether `name` is such a table: a restore keeps them as they are, never drops them."""
    return bool(signup_table) and name.startswith(signup_table + LEFT_BEHIND_INFIX)


@dataclass(frozen=True)
class RestoreOutcome:
    """What a full restore did to the signups the backup lacked."""

    #: Live signups the backup lacked, kept in the restored table.
    signups_kept: int = 0
    #: Live signups the backup lacked, removed (`exact`).
    signups_removed: int = 0
    #: Live signups the backup lacked that its older schema could not take (only with
    #: `later_signups_may_stay_behind`): kept, in the same transaction, in the table
    #: `left_behind_table` (all their columns), and so in every backup from then on.
    signups_left_behind: int = 0
    left_behind_table: str = ""
    #: Restored signups of erased fans, removed again in the same transaction (§12).
    signups_kept_erased: int = 0


class ScratchDatabase:
    """A throwaway database restored from a dump, for restore tests and merge restores."""

    def row_counts(self) -> dict[str, int]:
        raise NotImplementedError(
            "subclasses of ScratchDatabase must provide a row_counts() method"
        )

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError("subclasses of ScratchDatabase must provide a columns() method")

    def iter_rows(self, table: str, columns: list[str]) -> Iterator[list[tuple]]:
        """Batches of rows of `table` (only `columns`, in that order), by primary key."""
        raise NotImplementedError(
            "subclasses of ScratchDatabase must provide an iter_rows() method"
        )


class BaseEngine:
    vendor = ""
    #: The text a complete dump ends with; verification looks for it.
    completion_marker = b""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    @property
    def settings_dict(self) -> dict:
        return connections[self.alias].settings_dict

    def lock(self, *, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold the one backup-or-restore lock; raise BackupBusy after `timeout` seconds."""
        raise NotImplementedError("subclasses of BaseEngine must provide a lock() method")

    def dump(self, *, out: IO[bytes], queries: dict[str, str]) -> DumpSnapshot:
        """Write a plain-SQL dump to `out`; count every table in the same snapshot.

        When `out` is a real file, the dump program writes straight into it (no copy through
        Python); otherwise (e.g. a gzip stream) the output is piped through `out.write`.

        `queries` (name -> SQL) run in that snapshot too: what the dump holds, exactly.
        Raises DumpError.
        """
        raise NotImplementedError("subclasses of BaseEngine must provide a dump() method")

    def restore(
        self, *, sql: IO[bytes], expected_counts: dict[str, int], rules: RestoreRules
    ) -> RestoreOutcome:
        """Replace the live database with the dump, atomically, or leave it exactly as it was.

        Atomic even when this process is killed at any moment: the change commits only after
        the dump was read to its end, the row counts match `expected_counts`, and the live rows
        `rules` keep were carried over, all under a lock that makes signups arriving meanwhile
        wait, so none is lost. Raises RestoreError.
        """
        raise NotImplementedError("subclasses of BaseEngine must provide a restore() method")

    def erased_signup_ids(self, *, rules: RestoreRules) -> list[int]:
        """The ids of live signups the erasure ledger (`rules.erasure`) covers: none once every
        path honoured it, but a row put back behind the app's back (SQL by hand) is found."""
        raise NotImplementedError(
            "subclasses of BaseEngine must provide an erased_signup_ids() method"
        )

    def scratch(self, *, sql: IO[bytes]) -> contextlib.AbstractContextManager[ScratchDatabase]:
        """Restore the dump into a temporary database; drop it on exit. Raises RestoreError."""
        raise NotImplementedError("subclasses of BaseEngine must provide a scratch() method")

    def scratch_leftovers_remove(self) -> list[str]:
        """Remove the scratch databases or folders that killed processes left (they hold
        personal data); the caller holds the lock, and any still open is kept. Returns their
        names."""
        raise NotImplementedError(
            "subclasses of BaseEngine must provide a scratch_leftovers_remove() method"
        )

    def row_counts(self) -> dict[str, int]:
        """Rows per table in the live database, read in one snapshot."""
        raise NotImplementedError("subclasses of BaseEngine must provide a row_counts() method")

    @classmethod
    def is_complete(cls, tail: bytes) -> bool:
        """Whether a dump whose SQL ends in `tail` (its last 4 KiB) was written to the end."""
        return cls.completion_marker in tail


def child_stdout(out: IO[bytes]) -> IO[bytes] | int:
    """What a dump program's stdout should be: `out` itself when it is a real file."""
    try:
        out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return subprocess.PIPE
    out.flush()  # nothing of ours may sit in a buffer while the child writes the file
    return out


def pump(source: IO[bytes] | None, out: IO[bytes]) -> None:
    """Copy a child's piped stdout into `out` (nothing to do when it wrote `out` directly)."""
    if source is not None:
        while chunk := source.read(files.CHUNK_SIZE):
            out.write(chunk)


def drain(process: subprocess.Popen, out: IO[bytes]) -> int:
    """Copy a dump program's piped stdout into `out` (if piped) and wait for it; kill it if
    anything goes wrong here (a full disk, say) so no half-written dump carries on."""
    try:
        pump(process.stdout, out)
    except BaseException:
        process.kill()
        raise
    finally:
        if process.stdout is not None:
            process.stdout.close()
        returncode = process.wait()
    return returncode


def exit_description(returncode: int) -> str:
    return f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"


def stderr_tail(stderr: IO[bytes], limit: int = 1500) -> str:
    """What a program wrote to its (temporary-file) stderr, as one line for error messages:
    commands end with one clear line, and psql/pg_dump spread one failure over several."""
    stderr.seek(0)
    lines = stderr.read().decode(errors="replace").splitlines()
    text = " / ".join(line.strip() for line in lines if line.strip())
    return text[-limit:] or "(no message)"


def quote_name(name: str) -> str:
    """An SQL identifier in double quotes (both PostgreSQL and SQLite)."""
    return '"' + name.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def compare_counts(actual: dict[str, int], expected: dict[str, int]) -> list[str]:
    """Human-readable differences between two sets of row counts (empty when they agree)."""
    return [
        f"{table} has {actual.get(table, 'no')} rows, expected {count}"
        for table, count in sorted(expected.items())
        if actual.get(table) != count
    ]
