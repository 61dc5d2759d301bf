"""The catalogue is an index over the manifests; this keeps the two in step (§4.2), and clears
up what killed or failed operations leave behind (§9)."""

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict, Unpack

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups_app import conf, files
from backups_app.alerts import alert_admins, logger
from backups_app.engines import get_engine
from backups_app.engines.base import BaseEngine
from backups_app.exceptions import BackupBusy, VerificationError, error_text
from backups_app.models import Backup
from backups_app.signing import manifest_check, manifest_sign
from waitlist.models import fitted

INTERRUPTED = "Interrupted: the process taking it stopped before it finished."


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    leftovers: "Leftovers | None" = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Leftovers:
    """What a clean-up found: a `busy` one (a backup or restore was running) only removed the
    partial files of writers that are gone."""

    busy: bool = False
    #: Entries left running by a process that is gone: marked failed, admins told.
    interrupted: list[str] = field(default_factory=list)
    #: Entries left running whose files were complete and correct: recorded as succeeded.
    completed: list[str] = field(default_factory=list)
    #: Files removed: dumps or manifests alone, partial files.
    files: list[str] = field(default_factory=list)
    #: Scratch databases and folders removed.
    scratch: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.interrupted or self.completed or self.files or self.scratch)


def fields_from_manifest(*, manifest: dict[str, Any]) -> dict[str, Any]:
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
        "pin_reason": fitted(Backup, "pin_reason", manifest.get("pin_reason", "")),
        "shrink_detected": bool(shrink),
        "shrink_detail": fitted(Backup, "shrink_detail", shrink.get("detail", "")),
        "verified_at": _datetime(verification.get("at")),
        "verification_ok": verification.get("ok"),
        "verification_detail": fitted(
            Backup, "verification_detail", verification.get("detail", "")
        ),
        "restore_seconds": verification.get("restore_seconds"),
        "restore_tested": bool(verification.get("restore_tested")),
        "triggered_by": fitted(Backup, "triggered_by", manifest.get("triggered_by", "")),
        "note": fitted(Backup, "note", manifest.get("note", "")),
        "error": "",
        "manifest": manifest,
    }


class ManifestChanges(TypedDict, total=False):
    """What may change in a backup's manifest after it was written."""

    pinned: bool
    pin_reason: str
    verification: dict[str, Any]
    shrink: dict[str, Any] | None


def manifest_update(*, backup: Backup, **changes: Unpack[ManifestChanges]) -> Backup:
    """Change a backup's manifest on disk (atomically) and its catalogue entry to match.

    Pins and verification results live in the manifest so that they survive a restore or a
    rebuilt catalogue. The manifest's signature is checked first and the changed manifest
    signed again: SignatureError (and nothing written) when it does not verify.
    """
    path = conf.backup_dir() / files.manifest_name_for(backup.name)
    manifest = files.read_manifest(path)
    manifest_check(manifest)
    manifest.update(changes)
    manifest_sign(manifest)
    files.write_manifest(path, manifest)
    for name, value in fields_from_manifest(manifest=manifest).items():
        setattr(backup, name, value)
    backup.save()
    return backup


def backup_pin(*, backup: Backup, pinned: bool, by: str) -> Backup:
    """Pin a backup (rotation never deletes it) or unpin it, saying who did it in the manifest.

    ValidationError when its manifest is missing or unreadable, SignatureError (a
    VerificationError) when our keys do not vouch for it; nothing is changed either way."""
    reason = f"pinned by {by}" if pinned else ""
    return manifest_update(backup=backup, pinned=pinned, pin_reason=reason)


@dataclass
class PinSelection:
    """What Pin or Unpin did to chosen backups."""

    #: The backups changed, in the selection's order.
    done: list[Backup] = field(default_factory=list)
    #: Why a backup was not changed (its manifest is missing, unreadable or unsigned), by name.
    refused: dict[str, str] = field(default_factory=dict)


def backup_pin_selected(*, backups: Iterable[Backup], pinned: bool, by: str) -> PinSelection:
    """Pin or unpin each successful backup of a selection, as backup_pin() does; the others
    (failed, running) have nothing to keep and are left out. One whose manifest is missing,
    unreadable or not signed by our keys is left unchanged and said in `refused`; the rest are
    still changed."""
    result = PinSelection()
    for backup in backups:
        if backup.status != Backup.Status.SUCCEEDED:
            continue
        try:
            result.done.append(backup_pin(backup=backup, pinned=pinned, by=by))
        except (ValidationError, VerificationError) as err:  # SignatureError is the latter
            result.refused[backup.name] = error_text(err)
    return result


def backup_catalogue_sync(*, signing_keys: tuple[bytes, ...] = ()) -> SyncResult:
    """Rebuild the catalogue from the manifests in BACKUP_DIR.

    Every signed backup on disk gets an entry (`signing_keys` also trust another
    installation's); entries whose files are gone are removed. When no backup or restore is
    running, what killed ones left behind is cleared up first (`backup_leftovers_clean`).
    """
    engine = get_engine()
    try:
        with engine.lock(timeout=0):
            leftovers = leftovers_clean_locked(engine=engine)
            result = catalogue_sync_locked(signing_keys=signing_keys)
    except BackupBusy:
        leftovers = Leftovers(busy=True, files=_remove_dead_partials())
        result = catalogue_sync_locked(mark_interrupted=False, signing_keys=signing_keys)
    result.leftovers = leftovers
    return result


def catalogue_sync_locked(
    *, mark_interrupted: bool = True, signing_keys: tuple[bytes, ...] = ()
) -> SyncResult:
    """backup_catalogue_sync() for callers that hold the lock; `mark_interrupted` settles the
    entries left running (with the lock held, their process is gone). A manifest no key of
    ours (or of `signing_keys`) signed is never listed: it is reported as unreadable."""
    result = SyncResult()
    on_disk = set()
    for path in files.manifest_paths():
        try:
            manifest = files.read_manifest(path)
            manifest_check(manifest, extra_keys=signing_keys)
            dump = files.resolve_dump(manifest["name"])
            if files.manifest_name_for(dump.name) != path.name:
                raise ValidationError(f"it names another backup, {dump.name}")
        except (ValidationError, VerificationError, KeyError, TypeError) as err:
            result.unreadable.append(path.name)
            logger.warning(
                "catalogue sync skipped manifest=%s reason=%s", path.name, error_text(err)
            )
            continue
        on_disk.add(dump.name)
        try:
            _, created = Backup.objects.update_or_create(
                name=dump.name, defaults=fields_from_manifest(manifest=manifest)
            )
        except (AttributeError, TypeError, ValueError) as err:  # a signed but odd manifest
            result.unreadable.append(path.name)
            logger.warning("catalogue sync skipped manifest=%s reason=%s", path.name, err)
            continue
        (result.added if created else result.updated).append(dump.name)
    # A backup whose local files are gone but whose copy is off-site (§8.1) stays listed.
    gone = Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=True).exclude(
        name__in=on_disk
    )
    result.removed = list(gone.values_list("name", flat=True))
    gone.delete()
    if mark_interrupted:
        result.interrupted, _ = interrupted_settle_locked()
    return result


def backup_leftovers_clean() -> Leftovers:
    """Clear up after killed or failed operations (§9), on every worker pass.

    Only while no backup or restore runs (the lock is tried, never waited for): entries left
    running are settled, a dump or manifest alone and partial files are removed, and so are
    scratch databases and folders nothing has open. While one runs, only the partial files of
    writers that are gone are removed, and the next pass does the rest.
    """
    engine = get_engine()
    try:
        with engine.lock(timeout=0):
            return leftovers_clean_locked(engine=engine)
    except BackupBusy:
        return Leftovers(busy=True, files=_remove_dead_partials())


def leftovers_clean_locked(*, engine: BaseEngine) -> Leftovers:
    """backup_leftovers_clean() for callers that hold the lock."""
    result = Leftovers()
    result.interrupted, result.completed = interrupted_settle_locked()
    for name in files.lone_backup_files():
        if Backup.objects.filter(name=name, status=Backup.Status.SUCCEEDED).exists():
            # Not a leftover: a recorded backup lost a file. Verification and /health/ say so.
            logger.error("backup %s has lost its dump or its manifest", name)
            continue
        result.files += [path.name for path in files.remove_backup(name)]
    result.files += _remove_dead_partials()
    result.scratch = engine.scratch_leftovers_remove()
    if result.files or result.scratch:
        logger.warning(
            "removed leftovers of killed or failed operations files=%s scratch=%s",
            ",".join(result.files) or "-",
            ",".join(result.scratch) or "-",
        )
    return result


def interrupted_settle_locked() -> tuple[list[str], list[str]]:
    """Settle the entries left `running` (the caller holds the lock, so their process is gone):
    one whose dump and manifest are complete and correct is recorded from its manifest; any
    other is marked failed, its files removed, and ADMINS told. Returns (failed, completed)."""
    from backups_app.services.verify import check_files  # verify records through this module

    failed, completed = [], []
    for record in Backup.objects.filter(status=Backup.Status.RUNNING):
        dump = conf.backup_dir() / record.name
        try:
            manifest = check_files(dump=dump)
        except (VerificationError, ValidationError, OSError):
            manifest = None
        if manifest is not None and manifest.get("name") == record.name:
            for name, value in fields_from_manifest(manifest=manifest).items():
                setattr(record, name, value)
            record.save()
            completed.append(record.name)
            logger.warning("backup %s was complete when its process stopped", record.name)
            continue
        with contextlib.suppress(ValidationError):
            files.remove_backup(record.name)
        record.status = Backup.Status.FAILED
        record.error = INTERRUPTED
        record.finished_at = timezone.now()
        record.save()
        failed.append(record.name)
        alert_admins(
            f"Backup {record.name} was interrupted",
            f"kind={record.kind} started={record.started_at.isoformat()}: the process taking it "
            "stopped before it finished (killed, or its host or database went away). It is "
            "marked failed and its partial files are removed; older backups are untouched.",
        )
    return failed, completed


def _remove_dead_partials() -> list[str]:
    removed = []
    for folder in (conf.backup_dir(), conf.export_dir()):
        with contextlib.suppress(OSError):
            removed += [path.name for path in files.remove_dead_partials(folder)]
    return removed


def _datetime(value: str | None):
    if not value:
        return None
    parsed = parse_datetime(value)
    return parsed
