"""The signup journal: record every committed signup, replay what a table lost (docs/spec.md §11).

The files and their format are in backups_app/journal.py. Here: what a signup writes, the
position a backup covers, replay, pruning and the figures health shows.
"""

import datetime
import logging
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.color import no_style
from django.db import DatabaseError, connections, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from backups_app import conf, files, journal
from backups_app.exceptions import BackupError
from backups_app.keys import encryption_keyring, signing_keyring
from backups_app.models import Backup
from backups_app.selectors import backup_latest
from waitlist.erasure import ErasedAddresses, lock_ledger
from waitlist.models import Signup

logger = logging.getLogger("backups_app")

#: How many ids one query looks up, and how many rows one INSERT carries.
BATCH = 2000

appender = journal.JournalAppender()
#: With BACKUP_JOURNAL_FSYNC=background, a process flushes its segment at most this often; the
#: entries written meanwhile share one fdatasync. Each flush of the journal is a flush of the
#: disk that PostgreSQL's commits queue behind.
FLUSH_GATHER_SECONDS = 0.05


class JournalError(BackupError):
    """The journal cannot be replayed as asked (an unknown backup, a database error)."""


# --- Writing ------------------------------------------------------------------------------


def signup_row(*, signup: Signup) -> dict[str, Any]:
    """Every column of a signup, as JSON values: what re-inserting it exactly needs."""
    row = {}
    for model_field in Signup._meta.concrete_fields:
        value = model_field.value_from_object(signup)
        if isinstance(value, datetime.date | datetime.time):
            value = value.isoformat()
        row[model_field.attname] = value
    return row


def journal_record_signup(*, signup_id: int, row: dict[str, Any]) -> None:
    """Append the committed version of a signup (`row`, from signup_row() when it was saved);
    durable when this returns (§11).

    Called from the signup's on_commit hook, before the view answers. A journal that cannot
    be written does not undo the signup, which is committed in its table: the failure is
    logged as an error (mailed to the admins in production) and health reports the journal
    behind the table until it is fixed.
    """
    _append({"op": "put", "id": signup_id, "row": row})


def journal_record_deletion(*, signup_id: int) -> None:
    """Append that a signup was deleted through the app, so replay does not bring it back."""
    _append({"op": "delete", "id": signup_id})


@contextmanager
def journal_flush_at_exit() -> Iterator[None]:
    """With BACKUP_JOURNAL_FSYNC=wait (the default): inside this block, entries are written
    at once and made durable on a helper thread, and leaving it waits until every one of them
    is. JournalFlushMiddleware wraps each request in it, so the fdatasync overlaps the rest of
    the request (the commit's hooks, the redirect, the middleware) and still ends before the
    response leaves the process. (With `background` nothing waits; with `off` nothing is
    flushed.)"""
    outer = getattr(_pending, "flushes", None)
    _pending.flushes = flushes = []
    try:
        yield
    finally:
        _pending.flushes = outer
        for signup_id, flush in flushes:
            try:
                flush.result()
            except OSError as err:
                _log_not_journalled(signup_id, err)


_pending = threading.local()


def _append(entry: dict[str, Any]) -> None:
    if not conf.journal_enabled():
        return
    entry["at"] = timezone.now().isoformat()
    directory = conf.journal_dir()
    mode = conf.journal_flush_mode()
    flushes = getattr(_pending, "flushes", None)
    try:
        flush = appender.append(
            entry,
            directory=directory,
            open_writer=lambda: _open_writer(directory),
            background=mode == "background" or flushes is not None,
            gather_seconds=FLUSH_GATHER_SECONDS if mode == "background" else 0.0,
        )
    except (OSError, ImproperlyConfigured) as err:
        _log_not_journalled(entry["id"], err)
        return
    if flush is None:
        return
    if mode == "wait":
        flushes.append((entry["id"], flush))
    else:
        flush.add_done_callback(lambda done, signup_id=entry["id"]: _log_failed(signup_id, done))


def _log_failed(signup_id: int, flush: Future) -> None:
    if (err := flush.exception()) is not None:
        _log_not_journalled(signup_id, err)


def _log_not_journalled(signup_id: int, err: Exception) -> None:
    logger.error(
        "signup journal: entry for signup %s not written (%s); it is in the table and the "
        "next backup, but not journalled",
        signup_id,
        err,
    )


def _open_writer(directory) -> journal.SegmentWriter:
    # Private like the backups: the journal holds the same personal data.
    files.ensure_dir(conf.backup_dir())
    files.ensure_dir(directory)
    _check_private_folder(directory)
    signing = signing_keyring()
    encrypting = encryption_keyring()
    return journal.SegmentWriter(
        directory,
        signing_key=signing.signing_key,
        signing_key_id=signing.signing_key_id,
        encryption_key=encrypting.encrypting_key,
        encryption_key_id=encrypting.encrypting_key_id,
        durable=conf.journal_flush_mode() != "off",
        now=timezone.now(),
    )


def _check_private_folder(directory) -> None:
    """The journal folder must be a real folder of ours, never a symlink planted to carry every
    fan's details elsewhere; a mode looser than 0700 is tightened."""
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise journal.NotASegmentFile(
            f"{directory} is not a folder (a symbolic link or a file): the journal is not "
            "written there; remove it"
        )
    if info.st_uid != os.geteuid():
        raise journal.NotASegmentFile(
            f"{directory} belongs to another user (uid {info.st_uid}): the journal is not "
            "written there"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)


def journal_close() -> None:
    """Close this process's segment (tests, shutdown); the next entry opens a new one."""
    appender.close()


# --- Positions ----------------------------------------------------------------------------


def journal_position() -> dict[str, Any]:
    """What a backup starting now covers: each segment's complete bytes.

    Taken before the dump's snapshot begins, so every entry inside the position was written
    after its signup committed and before the snapshot: the backup holds it. Entries past the
    position may be in the backup too; replay is idempotent, so that costs nothing.
    """
    directory = conf.journal_dir()
    segments = {}
    for name in journal.segment_names(directory):
        try:
            segments[name] = journal.complete_size(directory / name)
        except FileNotFoundError:  # pruned meanwhile
            continue
        except OSError as err:  # planted (a folder, a FIFO, a link): never a backup's failure
            logger.warning("journal: %s is not a segment and is ignored (%s)", name, err)
    return {"segments": segments}


def backup_position(*, backup: Backup) -> dict[str, int] | None:
    """The segments' positions `backup` covers; None when it was taken before the journal."""
    position = (backup.manifest or {}).get("journal")
    if not isinstance(position, dict) or not isinstance(position.get("segments"), dict):
        return None
    return {str(name): int(size) for name, size in position["segments"].items()}


# --- Catch-up -----------------------------------------------------------------------------

#: A signup this recent may have its entry on the way (its commit hook running): not caught up.
CATCH_UP_SETTLE_SECONDS = 10
#: At most this many rows journalled by one catch-up (the rest at the next).
CATCH_UP_MAX_ROWS = 10000


def journal_catch_up(*, now: datetime.datetime | None = None) -> int:
    """Journal the committed signups that neither a backup nor the journal holds; return how
    many. The backup worker calls it every minute.

    A signup is journalled in its commit hook, after the database made it durable. When that
    entry is lost — a power cut before its flush reached the disk, a journal folder that was
    unwritable for a while — the row is still in the table, and this puts it back into the
    journal from there, so the journal is whole again within a minute of the machine coming
    back. Only signups newer than the newest backup are looked at, and only entries past that
    backup's position are read: a signup the backup lacks was committed after its snapshot
    began, so its entry (if any) was written after the position was taken.
    """
    if not conf.journal_enabled():
        return 0
    now = now or timezone.now()
    newest = backup_latest()
    floor = (newest.newest_signup_id or 0) if newest is not None else 0
    start = (backup_position(backup=newest) if newest is not None else None) or {}
    settled = now - datetime.timedelta(seconds=CATCH_UP_SETTLE_SECONDS)
    candidates = list(
        Signup.objects.filter(id__gt=floor, created_at__lte=settled)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not candidates:
        return 0
    journalled = _journalled_ids(start)
    missing = [signup_id for signup_id in candidates if signup_id not in journalled]
    missing = missing[:CATCH_UP_MAX_ROWS]
    caught = 0
    for first in range(0, len(missing), BATCH):
        for signup in Signup.objects.filter(id__in=missing[first : first + BATCH]).order_by("id"):
            _append({"op": "put", "id": signup.pk, "row": signup_row(signup=signup)})
            caught += 1
    if caught:
        logger.warning(
            "signup journal: %d committed signups were not journalled (a power cut before "
            "their flush, or the journal unwritable for a while); journalled them from the "
            "table",
            caught,
        )
    return caught


def _journalled_ids(start: dict[str, int]) -> set[int]:
    """Ids with an entry (put or delete) past `start` in any readable segment."""
    return {
        entry.signup_id
        for path in journal.iter_segments(conf.journal_dir())
        for entry in _readable_entries(path, start=start.get(path.name, 0))
    }


def _readable_entries(path, *, start: int = 0) -> list[journal.Entry]:
    """The verified entries of a segment past byte `start` under this installation's keys;
    none when it cannot be read (pruned while we read, or not a segment)."""
    try:
        segment = journal.read_segment(
            path,
            mac_keys=_mac_keys(()),
            encryption_keys=encryption_keyring().decryption_keys,
            start=start,
        )
    except OSError:
        return []
    return segment.entries


# --- Replay -------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    dry_run: bool
    since: str | None
    segments: int = 0
    entries: int = 0
    #: Signups whose newest journal entry keeps them (not deleted through the app).
    journalled: int = 0
    already_present: int = 0
    #: Present, but with other values than their newest journal entry (changed outside the app).
    changed_outside: int = 0
    inserted: int = 0
    #: Missing by id, but their email is on the list under another id (signed up again).
    email_taken: int = 0
    deleted_in_journal: int = 0
    #: Journalled signups of fans erased since (§12): never put back.
    kept_erased: int = 0
    damage: list[journal.Damage] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.journalled - self.already_present - self.email_taken - self.kept_erased

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["missing"] = self.missing
        data["damage"] = [str(item) for item in self.damage]
        return data

    def summary(self) -> str:
        verb = "would insert" if self.dry_run else "inserted"
        count = self.missing if self.dry_run else self.inserted
        text = (
            f"{self.entries} journal entries in {self.segments} segment(s), {self.journalled} "
            f"signups; {self.already_present} already in the table, {verb} {count}"
        )
        if self.email_taken:
            text += f", {self.email_taken} skipped (email on the list under another id)"
        if self.deleted_in_journal:
            text += f", {self.deleted_in_journal} deleted through the app (not brought back)"
        if self.kept_erased:
            text += f", {self.kept_erased} of erased fans (kept erased)"
        if self.changed_outside:
            text += f"; {self.changed_outside} differ from their journalled version"
        if self.damage:
            text += f"; {len(self.damage)} damaged lines or segments skipped"
        return text + "."


def journal_replay(
    *,
    since: Backup | None = None,
    dry_run: bool = False,
    extra_keys: tuple[bytes, ...] = (),
    using: str = "default",
) -> ReplayReport:
    """Insert the journalled signups the table lacks; return what was found and done.

    Idempotent: a signup present by id is left alone, as is one whose email is on the list
    under another id, so running it twice inserts nothing the second time and never makes a
    duplicate. A signup whose newest entry is a deletion through the app stays deleted. With
    `since`, only entries past that backup's position are read (the older ones are in it).
    """
    report = ReplayReport(dry_run=dry_run, since=since.name if since else None)
    record = _Record.read()
    start = {}
    if since is not None:
        start = backup_position(backup=since)
        if start is None:
            raise JournalError(
                f"{since.name} was taken before the signup journal existed, so it records no "
                "journal position; replay without --since."
            )
    latest = _latest_entries(report, record=record, start=start, extra_keys=extra_keys)
    puts = {signup_id: entry for signup_id, entry in latest.items() if entry.op == "put"}
    report.deleted_in_journal = len(latest) - len(puts)
    report.journalled = len(puts)
    candidates = _compare_with_table(report, puts, using=using)
    if dry_run or not candidates:
        return report
    report.inserted = _insert(candidates, using=using)
    if report.inserted:
        from backups_app.services.auto import backup_request_record

        # The replayed signups are in the journal already; they also need a backup.
        backup_request_record(signup_id=None, using=using)
    logger.info("journal replayed: %s", report.summary())
    return report


def _mac_keys(extra_keys: tuple[bytes, ...]) -> dict[str, bytes]:
    signing = signing_keyring(extra_keys=extra_keys)
    return {kid: journal.mac_key(key) for kid, key in signing.verification_keys.items()}


@dataclass(frozen=True)
class _Record:
    """What the backups in the catalogue recorded of the journal: the longest size each
    segment was seen at (and by which backup), and the oldest backup's own position."""

    longest: dict[str, tuple[int, str]]
    oldest: Backup | None
    oldest_position: dict[str, int] | None

    @classmethod
    def read(cls) -> "_Record":
        longest: dict[str, tuple[int, str]] = {}
        backups = list(
            Backup.objects.filter(status=Backup.Status.SUCCEEDED)
            .order_by("started_at")
            .only("name", "started_at", "manifest")
        )
        for backup in backups:
            for name, size in (backup_position(backup=backup) or {}).items():
                if size > longest.get(name, (-1, ""))[0]:
                    longest[name] = (size, backup.name)
        oldest = backups[0] if backups else None
        return cls(longest, oldest, backup_position(backup=oldest) if oldest else None)

    def problem(self, path, size: int) -> str | None:
        """Why a segment on disk must not be replayed, or None."""
        name = path.name
        recorded, by = self.longest.get(name, (-1, ""))
        if size < recorded:
            return (
                f"is {size} bytes, shorter than the {recorded} bytes backup {by} recorded: lines "
                "were removed; its entries are in that backup, so it is skipped"
            )
        if self.oldest_position is not None and name not in self.oldest_position:
            created = journal.segment_created_at(name)
            if created is not None and created < self.oldest.started_at:
                return (
                    f"is older than the oldest backup ({self.oldest.name}), which does not "
                    "record it: rotation pruned it and it was put back; skipped"
                )
        return None

    def settled(self, path, size: int) -> bool:
        """Whether the oldest backup covers the segment whole and nobody writes it any more."""
        position = (self.oldest_position or {}).get(path.name, -1)
        return size <= position and not journal.being_written(path)

    def missing(self, present: set[str]) -> list[journal.Damage]:
        """Segments a backup recorded that are gone, and that pruning did not remove."""
        damage = []
        for name, (size, by) in sorted(self.longest.items()):
            covered = (self.oldest_position or {}).get(name, -1) >= size
            if name not in present and not covered:
                damage.append(
                    journal.Damage(
                        name,
                        None,
                        f"backup {by} recorded it ({size} bytes) but it is missing: entries "
                        "after that backup may be lost",
                    )
                )
        return damage


def _latest_entries(
    report: ReplayReport,
    *,
    record: "_Record",
    start: dict[str, int],
    extra_keys: tuple[bytes, ...],
) -> dict[int, journal.Entry]:
    mac_keys = _mac_keys(extra_keys)
    decryption = encryption_keyring().decryption_keys
    directory = conf.journal_dir()
    entries: list[journal.Entry] = []
    present = set()
    for path in journal.iter_segments(directory):
        present.add(path.name)
        try:
            segment = journal.read_segment(
                path,
                mac_keys=mac_keys,
                encryption_keys=decryption,
                start=start.get(path.name, 0),
            )
        except FileNotFoundError:  # pruned while we read
            continue
        except OSError as err:
            report.damage.append(journal.Damage(path.name, None, f"cannot be read: {err}"))
            continue
        problem = segment.key_id and record.problem(path, segment.complete_bytes)
        if problem:
            report.damage.append(journal.Damage(path.name, None, problem))
            continue
        report.segments += 1
        report.damage.extend(segment.damage)
        if record.settled(path, segment.complete_bytes):
            # In every kept backup, and due for pruning (or pruned and put back): its signups
            # are not replayed, its deletions still count.
            entries.extend(e for e in segment.entries if e.op == "delete")
        else:
            entries.extend(segment.entries)
    report.damage.extend(record.missing(present))
    report.entries = len(entries)
    entries.sort(key=lambda entry: (entry.at, entry.segment, entry.number))
    return {entry.signup_id: entry for entry in entries}


def _compare_with_table(
    report: ReplayReport, puts: dict[int, journal.Entry], *, using: str
) -> list[Signup]:
    """The signups to insert; counts what is present, changed or taken on the way."""
    fields = {f.attname: f for f in Signup._meta.concrete_fields}
    missing: list[Signup] = []
    ids = sorted(puts)
    manager = Signup._base_manager.using(using)
    for chunk in _chunks(ids, BATCH):
        present = {row["id"]: row for row in manager.filter(id__in=chunk).values(*fields)}
        for signup_id in chunk:
            journalled = _model_values(puts[signup_id].row, fields)
            row = present.get(signup_id)
            if row is None:
                missing.append(Signup(**journalled))
                continue
            report.already_present += 1
            if any(row[name] != value for name, value in journalled.items()):
                report.changed_outside += 1
    emails = {signup.email for signup in missing}  # lower-cased, as the unique constraint
    taken = set()
    for chunk in _chunks(sorted(emails), BATCH):
        taken.update(
            manager.annotate(lowered=Lower("email"))
            .filter(lowered__in=chunk)
            .values_list("lowered", flat=True)
        )
    erased = ErasedAddresses.load(using=using)
    seen = set()
    candidates = []
    for signup in missing:
        if erased.covers(signup.email, signup.created_at):
            report.kept_erased += 1
            continue
        if signup.email in taken or signup.email in seen:
            report.email_taken += 1
            continue
        seen.add(signup.email)
        candidates.append(signup)
    return candidates


def _model_values(row: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A journalled row as model values; a column the journal lacks takes its default."""
    values = {}
    for name, value in row.items():
        model_field = fields.get(name)
        if model_field is not None:
            values[name] = model_field.to_python(value)
    if "email" in values:
        values["email"] = str(values["email"]).strip().lower()
    return values


def _insert(signups: list[Signup], *, using: str) -> int:
    """Insert, skipping any row a concurrent signup made conflict; return how many went in."""
    manager = Signup._base_manager.using(using)
    try:
        with transaction.atomic(using=using):
            # Under the erasure ledger: a fan erased since they were read stays out.
            lock_ledger(using=using)
            erased = ErasedAddresses.load(using=using)
            signups = [s for s in signups if not erased.covers(s.email, s.created_at)]
            for batch in _chunks(signups, BATCH):
                manager.bulk_create(batch, ignore_conflicts=True)
            _reset_sequence(using)
    except DatabaseError as err:
        raise JournalError(
            f"Replaying the journal failed, nothing was inserted: {err}. If the table's "
            "columns changed, run `manage.py migrate` first, then `manage.py replay_journal`."
        ) from err
    inserted = 0
    wanted = {signup.pk: signup.email for signup in signups}
    for chunk in _chunks(sorted(wanted), BATCH):
        rows = manager.filter(id__in=chunk).values_list("id", "email")
        inserted += sum(1 for signup_id, email in rows if wanted[signup_id] == email)
    return inserted


def _reset_sequence(using: str) -> None:
    """Explicit ids do not move PostgreSQL's sequence: move it past the replayed ids, and never
    back (an id once given must never be given again: the journal knows signups by id).
    SQLite's AUTOINCREMENT moves by itself and never goes back."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    table = Signup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        if sequence is None:  # not a serial or identity column: nothing to move
            statements = connection.ops.sequence_reset_sql(no_style(), [Signup])
            for statement in statements:
                cursor.execute(statement)
            return
        # `sequence` comes from the catalogue, already quoted; the table name is ours.
        cursor.execute(
            f"SELECT setval(%s, GREATEST((SELECT COALESCE(MAX(id), 1) FROM "  # noqa: S608
            f"{connection.ops.quote_name(table)}), (SELECT last_value FROM {sequence})))",
            [sequence],
        )


def _chunks(items: list, size: int) -> Iterable[list]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


# --- Pruning and status -------------------------------------------------------------------


def journal_prune() -> list[str]:
    """Delete the segments the oldest kept backup covers whole and nobody writes any more.

    Every kept backup can then still be restored and replayed up to now. Nothing is pruned
    while the oldest backup predates the journal, nor a segment being written, nor one whose
    deletions concern signups that a kept segment still journals (another process's segment,
    still open): dropping the deletion would let replay bring those signups back.
    """
    oldest = Backup.objects.filter(status=Backup.Status.SUCCEEDED).order_by("started_at").first()
    covered = backup_position(backup=oldest) if oldest is not None else None
    if not covered:
        return []
    directory = conf.journal_dir()
    candidates = []
    for name, position in covered.items():
        path = directory / name
        try:
            if path.lstat().st_size > position or journal.is_active(path):
                continue
        except OSError:  # gone, or not a segment (planted): not ours to judge here
            continue
        candidates.append(path)
    candidates = _keep_needed_deletions(directory, candidates)
    pruned = []
    for path in candidates:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        pruned.append(path.name)
        logger.info("journal segment pruned name=%s covered_by=%s", path.name, oldest.name)
    return pruned


def _keep_needed_deletions(directory, candidates: list) -> list:
    """`candidates` without the segments holding a deletion of a signup that a segment staying
    behind still has an entry for."""
    deletions = {
        path: {e.signup_id for e in _readable_entries(path) if e.op == "delete"}
        for path in candidates
    }
    if not any(deletions.values()):
        return candidates
    doomed = set(candidates)
    staying = set()
    for path in journal.iter_segments(directory):
        if path not in doomed:
            staying.update(e.signup_id for e in _readable_entries(path) if e.op == "put")
    kept = [path for path in candidates if deletions[path] & staying]
    for path in kept:
        logger.info("journal segment kept name=%s: its deletions are still needed", path.name)
    return [path for path in candidates if path not in kept]


@dataclass(frozen=True)
class JournalStatus:
    enabled: bool
    segments: int
    size_bytes: int
    newest_entry_at: datetime.datetime | None
    #: Entries past the newest successful backup's position (an upper bound: see
    #: journal_position).
    unbacked_entries: int
    newest_backup_has_position: bool

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["newest_entry_at"] = self.newest_entry_at.isoformat() if self.newest_entry_at else None
        return data


def journal_status() -> JournalStatus:
    """Size, newest entry and entries not yet in a backup, from file sizes and a tail count."""
    directory = conf.journal_dir()
    newest_backup = backup_latest()
    covered = (backup_position(backup=newest_backup) if newest_backup else None) or {}
    segments = size = unbacked = 0
    newest_mtime = None
    for path in journal.iter_segments(directory):
        try:
            stat = path.stat()
            count = _lines_after(path, covered.get(path.name))
        except OSError:  # pruned meanwhile, or not a segment (planted): not counted
            continue
        segments += 1
        size += stat.st_size
        unbacked += count
        newest_mtime = max(newest_mtime or stat.st_mtime, stat.st_mtime)
    return JournalStatus(
        enabled=conf.journal_enabled(),
        segments=segments,
        size_bytes=size,
        newest_entry_at=(
            datetime.datetime.fromtimestamp(newest_mtime, tz=datetime.UTC)
            if newest_mtime is not None
            else None
        ),
        unbacked_entries=unbacked,
        newest_backup_has_position=bool(covered),
    )


def _lines_after(path, position: int | None) -> int:
    """Complete entry lines after `position` (None: the whole segment but its header)."""
    with os.fdopen(journal.open_segment(path), "rb") as handle:
        if position is not None:
            handle.seek(position)
            skip_header = 0
        else:
            skip_header = 1
        count = 0
        while chunk := handle.read(files.CHUNK_SIZE):
            count += chunk.count(b"\n")
    return max(0, count - skip_header)
