"""Taking a backup (§4.1): dump, checksum, signed manifest and catalogue entry.

`backup_create` takes the lock; `backup_create_locked` is the flow itself, for callers that hold
it already. After the dump is catalogued, the requests it covers are marked (`services.auto`)
and the shrink guard runs (`services.shrink`); the streams that write the file are in
`backups_app.dump_streams`.
"""

import datetime
import time
from typing import Any, Required, TypedDict, Unpack

import django
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups_app import conf, encryption, files
from backups_app.alerts import alert_admins, logger
from backups_app.dump_streams import DumpSink, FollowingDigest
from backups_app.engines import get_engine
from backups_app.engines.base import BaseEngine, quote_name
from backups_app.exceptions import BackupError, DumpError
from backups_app.keys import encryption_keyring
from backups_app.models import Backup, PendingBackupRequest
from backups_app.selectors import applied_migrations
from backups_app.services.catalogue import fields_from_manifest
from backups_app.services.journal import journal_position
from backups_app.services.shrink import backup_shrink_guard
from backups_app.signing import manifest_sign
from waitlist.models import Signup, fitted

SIGNUP_TABLE = Signup._meta.db_table
REQUEST_TABLE = PendingBackupRequest._meta.db_table


class BackupOptions(TypedDict, total=False):
    """What a caller says about the backup it asks for (`backup_create_locked` has the
    defaults)."""

    kind: Required[str]
    pin: bool
    pin_reason: str
    note: str
    triggered_by: str


def backup_create(**options: Unpack[BackupOptions]) -> Backup:
    """Take a backup now and return its catalogue entry (status succeeded).

    Waits up to BACKUP_LOCK_TIMEOUT_SECONDS for another backup or restore (BackupBusy after
    that). On failure the entry is marked failed, ADMINS are told, no file that looks like a
    backup is left behind, older backups are untouched, and DumpError is raised.
    """
    engine = get_engine()
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        return backup_create_locked(engine=engine, **options)


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
                sink = DumpSink(handle, gzip_it=compression == "gzip", key=keyring.encrypting_key)
                snapshot = engine.dump(out=sink, queries=_snapshot_queries(engine))
                stored = sink.close()
            else:
                # The dump program writes the file itself while we checksum it behind it.
                with FollowingDigest(handle) as digest:
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
        unrecorded = _discard(record, error=str(err), seconds=round(time.monotonic() - clock, 3))
        alert_admins(f"Backup {name} failed", f"kind={kind} error={err}{unrecorded}")
        if isinstance(err, DumpError):
            raise
        raise DumpError(f"Writing the backup failed: {err}") from err
    except BaseException:  # Ctrl-C, a stop signal: no backup, and the catalogue says so
        _discard(record, error="interrupted before the backup was complete")
        raise

    for field, value in fields_from_manifest(manifest=manifest).items():
        setattr(record, field, value)
    try:
        _save_entry(record)
    except (DatabaseError, InterfaceError) as err:
        raise DumpError(
            f"{name} is complete on disk, but the catalogue cannot record it ({err}); the next "
            "worker pass or `listbackups --sync` will."
        ) from err
    # Here, not at the top: the worker in services.auto calls this module.
    from backups_app.services.auto import backup_requests_mark_covered

    covered = backup_requests_mark_covered(
        backup=record, rows=snapshot.query_rows.get("pending_requests", [])
    )
    backup_shrink_guard(backup=record)
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


def _discard(record: Backup, *, error: str, seconds: float | None = None) -> str:
    """Remove what the failed backup left on disk and mark its entry failed, for every way the
    dump can end early (an error, or an interruption).

    Returns '' when the entry was saved, else a note for the alert (the catalogue's own
    database is failing, so the next worker pass marks it failed instead).
    """
    files.remove_backup(record.name)
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
