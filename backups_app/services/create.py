"""Taking a backup: dump, checksum, manifest, catalogue entry and the shrink guard (§4.1, §4.3)."""

import datetime
import gzip
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import django
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups_app import conf, encryption, files
from backups_app.alerts import alert_admins, logger
from backups_app.engines import get_engine
from backups_app.engines.base import BaseEngine, quote_name
from backups_app.exceptions import BackupError, DumpError, VerificationError
from backups_app.keys import encryption_keyring
from backups_app.models import Backup, PendingBackupRequest
from backups_app.restore_record import restored_state
from backups_app.selectors import CLOCK_SKEW, applied_migrations
from backups_app.services.catalogue import fields_from_manifest, manifest_update
from backups_app.services.journal import journal_position
from backups_app.signing import manifest_sign
from waitlist.models import Signup, fitted

GZIP_LEVEL = 3  # most of level 9's saving on SQL text, at a fraction of its time
TAIL_BYTES = 4096
SIGNUP_TABLE = Signup._meta.db_table
REQUEST_TABLE = PendingBackupRequest._meta.db_table


def backup_create(
    *,
    kind: str,
    pin: bool = False,
    pin_reason: str = "",
    note: str = "",
    triggered_by: str = "",
) -> Backup:
    """Take a backup now and return its catalogue entry (status succeeded).

    Waits up to BACKUP_LOCK_TIMEOUT_SECONDS for another backup or restore (BackupBusy after
    that). On failure the entry is marked failed, ADMINS are told, no file that looks like a
    backup is left behind, older backups are untouched, and DumpError is raised.
    """
    engine = get_engine()
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        return backup_create_locked(
            engine=engine,
            kind=kind,
            pin=pin,
            pin_reason=pin_reason,
            note=note,
            triggered_by=triggered_by,
        )


def backup_create_locked(
    *,
    engine: BaseEngine,
    kind: str,
    pin: bool = False,
    pin_reason: str = "",
    note: str = "",
    triggered_by: str = "",
) -> Backup:
    """backup_create() for callers that already hold the lock (restore, migrate)."""
    if kind not in Backup.Kind.values:
        raise ValueError(f"unknown backup kind {kind!r}")
    compression = conf.compression()
    keyring = encryption_keyring()
    encrypted = keyring.encrypting_key is not None
    backup_dir = files.ensure_dir(conf.backup_dir())
    started_at = _unique_start(timezone.now(), compression, encrypted=encrypted)
    name = files.dump_name(files.stamp_for(started_at), compression, encrypted=encrypted)
    record = Backup.objects.create(
        name=name,
        kind=kind,
        status=Backup.Status.RUNNING,
        vendor=engine.vendor,
        compression=compression,
        started_at=started_at,
        triggered_by=fitted(Backup, "triggered_by", triggered_by),
        note=fitted(Backup, "note", note),
    )
    clock = time.monotonic()
    try:
        migrations = applied_migrations(alias=engine.alias)
        # Before the snapshot: every journal entry inside this position is in the dump (§11).
        journal_covered = journal_position()
        with files.atomic_file(backup_dir / name) as handle:
            if compression == "gzip" or encrypted:
                sink = _Sink(handle, gzip_it=compression == "gzip", key=keyring.encrypting_key)
                snapshot = engine.dump(out=sink, queries=_snapshot_queries(engine))
                stored = sink.close()
            else:
                # The dump program writes the file itself while we checksum it behind it.
                with _FollowingDigest(handle) as digest:
                    snapshot = engine.dump(out=handle, queries=_snapshot_queries(engine))
                stored = digest.result
            if not engine.is_complete(stored.tail):
                raise DumpError("The dump ended without its completion marker; it was discarded.")
            finished_at = timezone.now()
            manifest = {
                "format": 1,
                "name": name,
                "created_at": started_at.isoformat(),
                "finished_at": finished_at.isoformat(),
                "duration_seconds": round(time.monotonic() - clock, 3),
                "kind": kind,
                "vendor": engine.vendor,
                "compression": compression,
                "encryption": (
                    {
                        "algorithm": "AES-256-GCM, 64 KiB chunks, HKDF-SHA256 file key",
                        "chunk_bytes": encryption.CHUNK_SIZE,
                        "key_id": keyring.encrypting_key_id,
                    }
                    if encrypted
                    else None
                ),
                "size_bytes": stored.size,
                "sha256": stored.sha256,
                "row_counts": snapshot.row_counts,
                "migrations": migrations,
                "newest_signup": _newest_signup(snapshot.query_rows.get("newest_signup")),
                "database": str(engine.settings_dict["NAME"]),
                "django_version": django.get_version(),
                "pinned": pin,
                "pin_reason": fitted(
                    Backup, "pin_reason", pin_reason or ("pinned when taken" if pin else "")
                ),
                "note": fitted(Backup, "note", note),
                "triggered_by": fitted(Backup, "triggered_by", triggered_by),
                "shrink": None,
                "verification": None,
                "journal": journal_covered,
            }
            manifest_sign(manifest)
            # The manifest goes into place before the dump does: whenever this process stops
            # (killed, a full disk), no dump is ever on disk without its manifest. A manifest
            # left without its dump is cleared up by the next worker pass.
            files.write_manifest(backup_dir / files.manifest_name_for(name), manifest)
    except (BackupError, OSError, DatabaseError, InterfaceError) as err:
        files.remove_backup(name)
        unrecorded = _record_failure(
            record, error=str(err), seconds=round(time.monotonic() - clock, 3)
        )
        alert_admins(f"Backup {name} failed", f"kind={kind} error={err}{unrecorded}")
        if isinstance(err, DumpError):
            raise
        raise DumpError(f"Writing the backup failed: {err}") from err
    except BaseException:  # Ctrl-C, a stop signal: no backup, and the catalogue says so
        files.remove_backup(name)
        _record_failure(record, error="interrupted before the backup was complete")
        raise

    for field, value in fields_from_manifest(manifest).items():
        setattr(record, field, value)
    try:
        _save_entry(record)
    except (DatabaseError, InterfaceError) as err:
        raise DumpError(
            f"{name} is complete on disk, but the catalogue cannot record it ({err}); the next "
            "worker pass or `listbackups --sync` will."
        ) from err
    covered = _mark_requests_covered(record, snapshot.query_rows.get("pending_requests", []))
    _shrink_guard(record)
    logger.info(
        "backup succeeded name=%s kind=%s size_bytes=%d signups=%s covered_requests=%d "
        "seconds=%.3f",
        name,
        kind,
        record.size_bytes,
        record.row_counts.get(SIGNUP_TABLE, 0),
        covered,
        record.duration_seconds,
    )
    return record


def _save_entry(record: Backup) -> None:
    """Save the catalogue entry, reconnecting once if Django's connection died meanwhile.

    pg_dump and the snapshot read on connections of their own, so Django's may be terminated
    (or the server restarted) while they run without the backup being any worse for it.
    """
    try:
        record.save()
    except (DatabaseError, InterfaceError):
        connection = connections[record._state.db or DEFAULT_DB_ALIAS]
        if connection.in_atomic_block:  # closing would end the caller's transaction
            raise
        connection.close()
        record.save()


def _record_failure(record: Backup, *, error: str, seconds: float | None = None) -> str:
    """Mark the entry failed; '' when saved, else a note for the alert (the catalogue's own
    database is failing, so the next worker pass marks it failed instead)."""
    record.status = Backup.Status.FAILED
    record.finished_at = timezone.now()
    if seconds is not None:
        record.duration_seconds = seconds
    record.error = fitted(Backup, "error", error)
    try:
        _save_entry(record)
    except (DatabaseError, InterfaceError) as err:
        logger.error("backup %s failed and the catalogue cannot record it: %s", record.name, err)
        return f" (the catalogue could not record the failure: {err})"
    return ""


def _unique_start(
    moment: datetime.datetime, compression: str, *, encrypted: bool
) -> datetime.datetime:
    """Names have millisecond resolution; two backups in one millisecond get the next one."""
    while (
        Backup.objects.filter(name__startswith=f"backup-{files.stamp_for(moment)}.").exists()
        or (
            conf.backup_dir()
            / files.dump_name(files.stamp_for(moment), compression, encrypted=encrypted)
        ).exists()
    ):
        moment += datetime.timedelta(milliseconds=1)
    return moment


def _snapshot_queries(engine: BaseEngine) -> dict[str, str]:
    """Read in the dump's own snapshot: the newest signup it holds, and the pending requests it
    covers (a request visible there was recorded after its signup committed)."""
    tables = set(connections[engine.alias].introspection.table_names())
    queries = {}
    if SIGNUP_TABLE in tables:
        queries["newest_signup"] = (
            f"SELECT id, created_at FROM {quote_name(SIGNUP_TABLE)} ORDER BY id DESC LIMIT 1"  # noqa: S608
        )
    if REQUEST_TABLE in tables:
        queries["pending_requests"] = (
            f"SELECT id FROM {quote_name(REQUEST_TABLE)} WHERE covered_at IS NULL"  # noqa: S608
        )
    return queries


def _mark_requests_covered(backup: Backup, rows: list[tuple]) -> int:
    """Mark the requests this backup holds as covered by it (the first backup wins).

    Held are: the requests visible in the dump's snapshot, and those written later but stamped
    before the backup began (a request is stamped just after its signup committed, so that
    signup was in the snapshot).
    """
    ids = [int(row[0]) for row in rows]
    waiting = PendingBackupRequest.objects.filter(covered_at__isnull=True)
    covered = 0
    for start in range(0, len(ids), 5000):
        covered += waiting.filter(id__in=ids[start : start + 5000]).update(
            covered_at=backup.finished_at, covered_by=backup.name
        )
    covered += waiting.filter(requested_at__lt=backup.started_at - CLOCK_SKEW).update(
        covered_at=backup.finished_at, covered_by=backup.name
    )
    return covered


def _newest_signup(rows: list[tuple] | None) -> dict[str, Any] | None:
    row = rows[0] if rows else None
    if not row:
        return None
    signup_id, created_at = row
    if isinstance(created_at, str):
        parsed = parse_datetime(created_at)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, datetime.UTC)
        created_at = parsed
    return {"id": int(signup_id), "created_at": created_at.isoformat() if created_at else None}


def _shrink_guard(record: Backup) -> None:
    """Flag a backup whose tables shrank against the previous one, and pin that previous one.

    The July incident (a table dropped and recreated) shows up here as the signup table falling
    to a fraction of its size: any lost signup counts, other tables past BACKUP_SHRINK_THRESHOLD.
    """
    previous = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, vendor=record.vendor)
        .filter(started_at__lt=record.started_at)
        .order_by("-started_at")
        .first()
    )
    if previous is None:
        return
    # After a deliberate restore, what it put back is the baseline, not the data it replaced.
    restored = restored_state(after=previous.started_at)
    if restored is not None and restored["at"] < record.started_at:
        baseline, against = restored["row_counts"], f"the restore of {restored['restored']}"
    else:
        baseline, against = previous.row_counts, f"{previous.name}, now pinned"
    threshold = conf.shrink_threshold()
    ignored = conf.shrink_ignored_tables()
    shrunk = []
    for table, before in sorted(baseline.items()):
        if table in ignored or table.startswith("backups_app_") or before <= 0:
            continue
        after = record.row_counts.get(table, 0)
        lost = before - after
        if lost <= 0:
            continue
        if (table == SIGNUP_TABLE and lost >= 1) or lost / before > threshold:
            shrunk.append({"table": table, "before": before, "after": after})
    if not shrunk:
        return
    detail = "; ".join(f"{s['table']}: {s['before']} -> {s['after']} rows" for s in shrunk)
    detail = f"{detail} (against {against})"
    shrink = {"previous": previous.name, "tables": shrunk, "detail": detail}
    manifest_update(backup=record, shrink=shrink)
    reason = f"last backup before the shrink seen in {record.name}"
    try:
        manifest_update(backup=previous, pinned=True, pin_reason=reason)
    except VerificationError as err:  # not ours to sign (another installation's): pin it here
        logger.warning("pinned %s in the catalogue only: %s", previous.name, err)
        previous.pinned, previous.pin_reason = True, fitted(Backup, "pin_reason", reason)
        previous.save(update_fields=["pinned", "pin_reason"])
    alert_admins(f"Backup {record.name}: data shrank", detail)


@dataclass(frozen=True)
class _Stored:
    """The file as stored: its size and SHA-256, and the last bytes of its SQL."""

    size: int
    sha256: str
    tail: bytes


class _FollowingDigest:
    """Checksums a file while another process is still appending to it.

    The dump program writes on one core while this thread hashes what has landed on the other,
    so the checksum costs almost nothing on top of the dump. Yields a holder whose `.result`
    (size, SHA-256, tail) is set on exit.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.finished = threading.Event()
        self.digest = hashlib.sha256()
        self.size = 0
        self.tail = b""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> "_FollowingDigest":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.handle.flush()  # the Python fallback dumper writes through our buffer
        self.finished.set()
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise DumpError(f"Reading the dump back failed: {self.error}") from self.error

    @property
    def result(self) -> _Stored:
        return _Stored(size=self.size, sha256=self.digest.hexdigest(), tail=self.tail)

    def _follow(self) -> None:
        # Reads through our own descriptor (pread), never by name: the name could be made to
        # point at another file, whose bytes would then be the ones signed.
        fd = self.handle.fileno()
        try:
            while True:
                done = self.finished.is_set()  # read once more after the writer is done
                chunk = os.pread(fd, files.CHUNK_SIZE, self.size)
                if chunk:
                    self.digest.update(chunk)
                    self.size += len(chunk)
                    self.tail = (self.tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
                elif done:
                    return
                else:
                    time.sleep(0.002)
        except OSError as err:
            self.error = err


class _HashingWriter:
    """Writes to the file and hashes exactly what is stored (here: gzip's output)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class _Sink:
    """Takes the dump's SQL (no fileno, so engines pipe into it), gzips and/or encrypts it into
    the file, and hashes exactly what is stored."""

    def __init__(self, handle: IO[bytes], *, gzip_it: bool, key: bytes | None) -> None:
        self.stored = _HashingWriter(handle)
        self.encrypted = encryption.EncryptingWriter(self.stored, key) if key else None
        target = self.encrypted or self.stored
        self.gzip = (
            gzip.GzipFile(fileobj=target, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
            if gzip_it
            else None
        )
        self.first = self.gzip or target
        self.tail = b""

    def write(self, data: bytes) -> int:
        self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        self.first.write(data)
        return len(data)

    def flush(self) -> None:
        pass  # the layers flush on close(); a dump's flush must not cut a chunk short

    def close(self) -> _Stored:
        if self.gzip is not None:
            self.gzip.close()
        if self.encrypted is not None:
            self.encrypted.close()
        return _Stored(size=self.stored.size, sha256=self.stored.digest.hexdigest(), tail=self.tail)
