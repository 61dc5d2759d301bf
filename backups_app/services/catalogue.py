"""The catalogue is an index over the manifests; this keeps the two in step (§4.2)."""

import contextlib
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.exceptions import BackupBusy
from backups_app.models import Backup


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def fields_from_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The catalogue fields a manifest determines."""
    shrink = manifest.get("shrink") or {}
    verification = manifest.get("verification") or {}
    newest = manifest.get("newest_signup") or {}
    return {
        "kind": manifest.get("kind", Backup.Kind.MANUAL),
        "status": Backup.Status.SUCCEEDED,
        "vendor": manifest.get("vendor", ""),
        "compression": manifest.get("compression", "none"),
        "started_at": _datetime(manifest.get("created_at")) or timezone.now(),
        "finished_at": _datetime(manifest.get("finished_at")),
        "duration_seconds": manifest.get("duration_seconds"),
        "size_bytes": manifest.get("size_bytes"),
        "sha256": manifest.get("sha256", ""),
        "row_counts": manifest.get("row_counts") or {},
        "newest_signup_id": newest.get("id"),
        "newest_signup_at": _datetime(newest.get("created_at")),
        "pinned": bool(manifest.get("pinned")),
        "pin_reason": manifest.get("pin_reason", "")[:200],
        "shrink_detected": bool(shrink),
        "shrink_detail": shrink.get("detail", "")[:1000],
        "verified_at": _datetime(verification.get("at")),
        "verification_ok": verification.get("ok"),
        "verification_detail": verification.get("detail", "")[:1000],
        "restore_seconds": verification.get("restore_seconds"),
        "restore_tested": bool(verification.get("restore_tested")),
        "triggered_by": manifest.get("triggered_by", "")[:150],
        "note": manifest.get("note", "")[:500],
        "error": "",
        "manifest": manifest,
    }


def manifest_update(backup: Backup, **changes: Any) -> Backup:
    """Change a backup's manifest on disk (atomically) and its catalogue entry to match.

    Pins and verification results live in the manifest so that they survive a restore or a
    rebuilt catalogue.
    """
    path = conf.backup_dir() / files.manifest_name_for(backup.name)
    manifest = files.read_manifest(path)
    manifest.update(changes)
    files.write_manifest(path, manifest)
    for name, value in fields_from_manifest(manifest).items():
        setattr(backup, name, value)
    backup.save()
    return backup


def backup_catalogue_sync() -> SyncResult:
    """Rebuild the catalogue from the manifests in BACKUP_DIR.

    Every backup on disk gets an entry; entries whose files are gone are removed; entries left
    `running` by a killed process are marked failed when no backup is running now.
    """
    try:
        with get_engine().lock(timeout=0):
            return catalogue_sync_locked()
    except BackupBusy:
        return catalogue_sync_locked(mark_interrupted=False)


def catalogue_sync_locked(*, mark_interrupted: bool = True) -> SyncResult:
    result = SyncResult()
    on_disk = set()
    for path in files.manifest_paths():
        try:
            manifest = files.read_manifest(path)
            dump = files.resolve_dump(manifest["name"])
        except (ValidationError, KeyError, TypeError) as err:
            result.unreadable.append(path.name)
            logger.warning("catalogue sync skipped manifest=%s reason=%s", path.name, _text(err))
            continue
        on_disk.add(dump.name)
        _, created = Backup.objects.update_or_create(
            name=dump.name, defaults=fields_from_manifest(manifest)
        )
        (result.added if created else result.updated).append(dump.name)
    gone = Backup.objects.filter(status=Backup.Status.SUCCEEDED).exclude(name__in=on_disk)
    result.removed = list(gone.values_list("name", flat=True))
    gone.delete()
    if mark_interrupted:
        running = Backup.objects.filter(status=Backup.Status.RUNNING)
        result.interrupted = list(running.values_list("name", flat=True))
        running.update(
            status=Backup.Status.FAILED,
            error="Interrupted: the process taking it stopped before it finished.",
            finished_at=timezone.now(),
        )
    with contextlib.suppress(OSError):
        files.remove_stale_partials()
    return result


def _datetime(value: str | None):
    if not value:
        return None
    parsed = parse_datetime(value)
    return parsed


def _text(err: Exception) -> str:
    return "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
