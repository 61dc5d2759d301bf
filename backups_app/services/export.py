"""CSV exports of the signups (§5): streamed, formula-safe, rotated.

PostgreSQL exports every signup with COPY (the neutralising done in SQL), at the speed of
`psql \\copy`; elsewhere, and for a selection (the admin's "export selected"), Python's csv module
writes the same columns.
(Python ends lines with CRLF, as RFC 4180 does, which also makes it quote a lone CR in a cell;
COPY ends them with LF. Every CSV reader takes both.)
"""

import contextlib
import csv
import datetime
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.engines.base import quote_name
from backups_app.models import Export
from backups_app.services.restore import restore_rules
from waitlist.models import Erasure, Signup, fitted

TEXT_COLUMNS = ["full_name", "email", "phone", "city", "country", "message"]
COLUMNS = ["id", *TEXT_COLUMNS, "consent", "created_at"]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_PATTERN = re.compile(r"^waitlist-export-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.csv$")


def neutralise(value: str) -> str:
    """Make a cell inert in spreadsheets: a leading quote shows the text instead of running it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def signup_csv_rows(*, signups: QuerySet) -> Iterator[list[str]]:
    """The header, then one neutralised row per signup, read in chunks (flat memory)."""
    yield COLUMNS
    for values in signups.order_by("id").values_list(*COLUMNS).iterator(chunk_size=2000):
        row = dict(zip(COLUMNS, values, strict=True))
        yield [
            str(row["id"]),
            *(neutralise(row[column] or "") for column in TEXT_COLUMNS),
            "true" if row["consent"] else "false",
            _utc(row["created_at"]),
        ]


def waitlist_export_csv(
    *, signups: QuerySet | None = None, path: Path | None = None, triggered_by: str = ""
) -> Export:
    """Export the signups (every one, or the `signups` given) to
    EXPORT_DIR/waitlist-export-<UTC timestamp>.csv (or `path`), and record it as an Export.

    Written atomically (no half file under the final name), then old exports are rotated.
    """
    stamp = files.stamp_for(timezone.now())
    name = f"waitlist-export-{stamp}.csv"
    target = Path(path) if path else files.ensure_dir(conf.export_dir()) / name
    if target.is_dir():
        target = target / name
    everyone = Signup.objects.all()
    # Erased fans are never exported (§12), even one put back by hand behind the app's back.
    hidden = _erased_signup_ids()
    if hidden:
        logger.warning("export skips %d signup(s) of erased fans still in the table", len(hidden))
    with files.atomic_file(target) as handle:
        if signups is None and connection.vendor == "postgresql":
            row_count = _copy_from_postgresql(handle, hidden=hidden)
        else:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=False)
            writer = csv.writer(text, lineterminator="\r\n")
            row_count = -1  # the header
            chosen = everyone if signups is None else signups
            for row in signup_csv_rows(signups=chosen.exclude(pk__in=hidden) if hidden else chosen):
                writer.writerow(row)
                row_count += 1
            text.flush()
            text.detach()
    export, _ = Export.objects.update_or_create(
        name=target.name,
        defaults={
            "path": str(target),
            "created_at": timezone.now(),
            "row_count": row_count,
            "size_bytes": target.stat().st_size,
            "sha256": files.sha256_of(target),
            "triggered_by": fitted(Export, "triggered_by", triggered_by),
        },
    )
    logger.info(
        "export succeeded name=%s rows=%d size_bytes=%d by=%s",
        export.name,
        row_count,
        export.size_bytes,
        triggered_by or "-",
    )
    export_rotate()
    return export


def export_rotate(*, keep: int | None = None) -> list[str]:
    """Delete the oldest exports in EXPORT_DIR beyond EXPORT_RETENTION; return their names."""
    keep = conf.export_retention() if keep is None else keep
    folder = conf.export_dir()
    if not folder.is_dir():
        return []
    exports = sorted((p for p in folder.iterdir() if EXPORT_PATTERN.match(p.name)), reverse=True)
    doomed = exports[keep:]
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    Export.objects.filter(path__in=[str(p) for p in doomed]).delete()
    return [p.name for p in doomed]


def _erased_signup_ids() -> list[int]:
    """Live signups of erased fans; nothing is read when the ledger is empty."""
    if not Erasure.objects.exists():
        return []
    return get_engine().erased_signup_ids(rules=restore_rules())


def _copy_from_postgresql(handle: IO[bytes], *, hidden: list[int]) -> int:
    table = quote_name(Signup._meta.db_table)
    # Integers from our own query, never text from anyone.
    where = f"WHERE id NOT IN ({', '.join(str(int(pk)) for pk in hidden)}) " if hidden else ""
    # ascii() of the first character is far cheaper than comparing substrings (= + - @ TAB CR).
    codes = ", ".join(str(ord(start)) for start in FORMULA_STARTS)
    text_columns = ", ".join(
        f"CASE WHEN ascii({quote_name(c)}) IN ({codes}) "
        f"THEN '''' || {quote_name(c)} ELSE {quote_name(c)} END AS {quote_name(c)}"
        for c in TEXT_COLUMNS
    )
    # Identifiers are quoted by quote_name and nothing comes from user input. The time is
    # PostgreSQL's own text form made ISO 8601: to_char() would add half the export's time.
    query = (
        f"COPY (SELECT id, {text_columns}, "  # noqa: S608
        "CASE WHEN consent THEN 'true' ELSE 'false' END AS consent, "
        "replace((created_at AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z' AS created_at "
        f"FROM {table} {where}ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(query) as copy:
            for block in copy:
                handle.write(block)
        return raw.rowcount


def _utc(moment: datetime.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
