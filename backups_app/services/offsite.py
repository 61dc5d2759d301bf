"""Off-site copies (§8.1): upload with back-off, off-site retention, the catalogue rebuilt from
the off-site manifests, and fetching a backup back when its local files are gone."""

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils import timezone

from backups_app import conf, files, offsite
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.exceptions import BackupBusy, VerificationError, error_text
from backups_app.models import Backup
from backups_app.services.catalogue import SyncResult, backup_catalogue_sync, fields_from_manifest
from backups_app.services.journal_offsite import journal_offsite_fetch
from backups_app.signing import manifest_check
from waitlist.models import fitted


@dataclass
class OffsitePass:
    uploaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Waiting for their next try (back-off), or without a local dump to send.
    waiting: int = 0


def _pending():
    return Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=True)


def backup_offsite_upload_pending(*, now: datetime.datetime | None = None) -> OffsitePass:
    """Copy every successful backup not yet off-site whose next try is due: the dump first,
    the manifest last (the commit marker). A failure is recorded on the entry with an
    exponential back-off and logged; after the first failure the rest of the pass is not
    sent (recorded the same way). Nothing local is ever deleted here."""
    now = now or timezone.now()
    result = OffsitePass()
    backup_dir = conf.backup_dir()
    store_error: Exception | None = None
    for backup in _pending().order_by("started_at"):
        dump = backup_dir / backup.name
        manifest = backup_dir / files.manifest_name_for(backup.name)
        if backup.offsite_next_try_at and backup.offsite_next_try_at > now:
            result.waiting += 1
            continue
        if not (dump.is_file() and manifest.is_file()):
            result.waiting += 1
            continue
        if store_error is None:
            try:
                offsite.upload(dump)
                offsite.upload_manifest(manifest)
            except offsite.STORE_ERRORS as err:
                store_error = err
        if store_error is not None:
            # Once the store has failed, the rest wait for their next try without being
            # sent: a store that is down must not hold the worker for timeouts per backup.
            _record_failure(backup, store_error, now=now)
            result.failed.append(backup.name)
            continue
        _record_success(backup)
        result.uploaded.append(backup.name)
        logger.info("backup copied off-site name=%s", backup.name)
    return result


def _record_success(backup: Backup) -> None:
    backup.offsite_at = timezone.now()
    backup.offsite_error = ""
    backup.offsite_next_try_at = None
    backup.save(update_fields=["offsite_at", "offsite_error", "offsite_next_try_at"])


def _record_failure(backup: Backup, err: Exception, *, now: datetime.datetime) -> None:
    backup.offsite_attempts += 1
    delay = min(
        conf.offsite_retry_base_seconds() * 2 ** (backup.offsite_attempts - 1),
        conf.offsite_retry_max_seconds(),
    )
    backup.offsite_error = fitted(Backup, "offsite_error", f"{type(err).__name__}: {err}")
    backup.offsite_next_try_at = now + datetime.timedelta(seconds=delay)
    backup.save(update_fields=["offsite_attempts", "offsite_error", "offsite_next_try_at"])
    logger.warning(
        "off-site upload failed name=%s attempt=%d next_try=%s error=%s",
        backup.name,
        backup.offsite_attempts,
        backup.offsite_next_try_at.isoformat(),
        backup.offsite_error,
    )


def backups_to_rotate_offsite(*, keep: int) -> list[Backup]:
    """Off-site copies retention would delete, newest first: never a pinned one, the `keep`
    newest unpinned ones, or the newest of all."""
    copies = list(
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=False).order_by(
            "-started_at"
        )
    )
    protected = {b.pk for b in copies if b.pinned}
    protected.update(b.pk for b in [b for b in copies if not b.pinned][:keep])
    protected.update(b.pk for b in copies[:1])
    return [b for b in copies if b.pk not in protected]


# A dump off-site without its manifest is an upload that stopped half way; after this long
# nothing is still sending it, and it is removed (it holds personal data and is never listed).
INTERRUPTED_UPLOAD_GRACE = datetime.timedelta(hours=24)


def backup_offsite_rotate(*, now: datetime.datetime | None = None) -> list[str]:
    """Delete the off-site copies retention (`BACKUP_OFFSITE_RETENTION`) no longer keeps: the
    manifest first, then the dump (the reverse of the upload). Returns their names.

    Only while no backup, restore or verification runs (the lock is tried, never waited for):
    one of them may be fetching the copy retention would delete. The next pass does it then.
    """
    try:
        with get_engine().lock(timeout=0):
            removed = _offsite_rotate_locked()
            _interrupted_uploads_remove(now=now or timezone.now())
            return removed
    except BackupBusy:
        logger.info("off-site rotation skipped: a backup or restore is running")
        return []


def _offsite_rotate_locked() -> list[str]:
    removed = []
    for backup in backups_to_rotate_offsite(keep=conf.offsite_retention()):
        try:
            offsite.delete(files.manifest_name_for(backup.name))
            offsite.delete(backup.name)
        except offsite.STORE_ERRORS as err:
            logger.warning("off-site rotation of %s failed: %s", backup.name, err)
            continue
        removed.append(backup.name)
        if backup.is_local:
            backup.offsite_at = None
            backup.save(update_fields=["offsite_at"])
        else:
            backup.delete()
        logger.info("off-site copy rotated name=%s", backup.name)
    return removed


def _interrupted_uploads_remove(*, now: datetime.datetime) -> list[str]:
    manifests = set(offsite.manifest_names())
    removed = []
    for name in offsite.dump_names():
        if files.manifest_name_for(name) in manifests:
            continue
        try:
            if offsite.storage().get_modified_time(name) > now - INTERRUPTED_UPLOAD_GRACE:
                continue
            offsite.delete(name)
        except offsite.STORE_ERRORS as err:
            logger.warning("off-site clean-up of %s failed: %s", name, err)
            continue
        removed.append(name)
        logger.warning("removed an interrupted off-site upload name=%s", name)
    return removed


@dataclass
class OffsiteRebuild:
    """What `backup_offsite_rebuild` did: the catalogue synced with the disk, then with the
    off-site manifests, and the signup journal segments copied down."""

    local: SyncResult
    offsite: SyncResult
    journal_fetched: list[str]


def backup_offsite_rebuild(*, signing_keys: tuple[bytes, ...] = ()) -> OffsiteRebuild:
    """The server is gone: rebuild the catalogue from what is on disk and what is off-site,
    and copy down the signup journal, so that a restore here also replays the signups taken
    after the last backup (`signing_keys` also trust another installation's).

    Refuses (ValidationError, one line) when off-site copies are off or the store cannot be
    read; what the local sync did stays done.
    """
    if not conf.offsite_enabled():
        raise ValidationError("Off-site copies are off: set BACKUP_OFFSITE_BUCKET.")
    local = backup_catalogue_sync(signing_keys=signing_keys)
    try:
        synced = backup_offsite_sync(signing_keys=signing_keys)
        fetched = journal_offsite_fetch(extra_keys=signing_keys)
    except offsite.STORE_ERRORS as err:
        raise ValidationError(f"The off-site store cannot be read: {err}") from err
    return OffsiteRebuild(local=local, offsite=synced, journal_fetched=fetched)


def backup_offsite_sync(*, signing_keys: tuple[bytes, ...] = ()) -> SyncResult:
    """Rebuild the catalogue from the off-site manifests alone ("the server is gone").

    Only a manifest our keys (or `signing_keys`) signed, naming a dump that is off-site too,
    is listed; any other is reported as unreadable. Entries marked off-site whose copy is gone
    lose the mark (and are removed when not local either).
    """
    result = SyncResult()
    dumps = set(offsite.dump_names())
    found = set()
    for manifest_name in offsite.manifest_names():
        try:
            manifest = offsite.read_manifest(manifest_name)
            manifest_check(manifest, extra_keys=signing_keys)
            name = manifest["name"]
            if files.manifest_name_for(name) != manifest_name:
                raise ValidationError(f"it names another backup, {name}")
            if name not in dumps:
                raise ValidationError(f"its dump {name} is not off-site (an interrupted upload)")
        except (ValidationError, VerificationError, ValueError, KeyError, TypeError) as err:
            result.unreadable.append(manifest_name)
            logger.warning("off-site sync skipped manifest=%s reason=%s", manifest_name, err)
            continue
        found.add(name)
        backup = Backup.objects.filter(name=name).first()
        if backup is None:
            Backup.objects.create(
                name=name, offsite_at=timezone.now(), **fields_from_manifest(manifest=manifest)
            )
            result.added.append(name)
        elif backup.offsite_at is None:
            backup.offsite_at = timezone.now()
            backup.offsite_error = ""
            backup.offsite_next_try_at = None
            backup.save(update_fields=["offsite_at", "offsite_error", "offsite_next_try_at"])
            result.updated.append(name)
    for backup in Backup.objects.filter(offsite_at__isnull=False).exclude(name__in=found):
        result.removed.append(backup.name)
        if backup.is_local:
            backup.offsite_at = None
            backup.save(update_fields=["offsite_at"])
        else:
            backup.delete()
    return result


def backup_offsite_fetch(*, name: str) -> Path:
    """Bring backup `name` back into BACKUP_DIR from off-site and return the local dump. The
    caller checks signature and checksum as for any local backup.

    Written as backup_create() writes a backup: the dump streams into a hidden partial file,
    the manifest is put in place, and only then is the dump renamed beside it. A fetch that
    fails or is killed never leaves a dump under its name without its manifest (which the
    next fetch would take as already here); at worst a manifest alone, which the catalogue
    sync never lists and the next restore or verification fetches again.
    """
    manifest_name = files.manifest_name_for(name)
    if not offsite.exists(name) or not offsite.exists(manifest_name):
        raise ValidationError(f"No backup named {name!r} off-site.")
    backup_dir = conf.backup_dir()
    dump = backup_dir / name
    try:
        with files.atomic_file(dump) as dump_handle:
            offsite.download(name, dump_handle)
            with files.atomic_file(backup_dir / manifest_name) as handle:
                offsite.download(manifest_name, handle)
    except offsite.STORE_ERRORS as err:
        raise ValidationError(f"Could not fetch {name} from off-site: {err}") from err
    logger.info("backup fetched from off-site name=%s", name)
    return dump


def backup_offsite_fetch_missing(*, name: str) -> None:
    """Before a restore or verification: fetch backup `name` from off-site when its dump or its
    manifest is not in BACKUP_DIR and the catalogue knows a copy off-site. Anything else is
    left to the caller."""
    if not conf.offsite_enabled() or not files.NAME_PATTERN.match(str(name)):
        return
    dump = conf.backup_dir() / name
    if dump.is_file() and files.manifest_path_for(dump).is_file():
        return
    if Backup.objects.filter(name=name, offsite_at__isnull=False).exists():
        backup_offsite_fetch(name=name)


@dataclass
class OffsiteSelection:
    """What an off-site action on chosen backups did, by backup name."""

    done: list[str] = field(default_factory=list)
    #: name -> what went wrong (the store's error, a fetched copy that does not verify).
    failed: dict[str, str] = field(default_factory=dict)
    #: name -> why it was not tried (already off-site, not complete, not local, ...).
    skipped: dict[str, str] = field(default_factory=dict)


def backup_offsite_upload_selected(
    *, backups: list[Backup], now: datetime.datetime | None = None
) -> OffsiteSelection:
    """Copy these backups off-site now, without waiting for their back-off: each one that is
    complete, in BACKUP_DIR and not off-site yet, the dump first and the manifest last. The
    others are skipped with the reason. A failure is recorded on the entry as in the worker's
    pass (attempts, error, next try), and the rest are then not sent. Raises ValidationError
    when off-site copies are off."""
    if not conf.offsite_enabled():
        raise ValidationError("Off-site copies are off: BACKUP_OFFSITE_BUCKET is not set.")
    now = now or timezone.now()
    result = OffsiteSelection()
    backup_dir = conf.backup_dir()
    store_failed = False
    # Read again: the worker may have sent one since the caller looked.
    chosen = Backup.objects.filter(pk__in=[b.pk for b in backups]).order_by("started_at")
    for backup in chosen:
        if backup.status != Backup.Status.SUCCEEDED:
            result.skipped[backup.name] = f"not a complete backup ({backup.status})"
            continue
        if backup.offsite_at is not None:
            result.skipped[backup.name] = "already off-site"
            continue
        dump = backup_dir / backup.name
        manifest = backup_dir / files.manifest_name_for(backup.name)
        if not (dump.is_file() and manifest.is_file()):
            result.skipped[backup.name] = f"its files are not in {backup_dir}"
            continue
        if store_failed:
            result.skipped[backup.name] = "not sent after the off-site store failed"
            continue
        try:
            offsite.upload(dump)
            offsite.upload_manifest(manifest)
        except offsite.STORE_ERRORS as err:
            _record_failure(backup, err, now=now)
            result.failed[backup.name] = backup.offsite_error
            store_failed = True
            continue
        _record_success(backup)
        result.done.append(backup.name)
        logger.info("backup copied off-site on request name=%s", backup.name)
    return result


def backup_offsite_fetch_selected(*, backups: list[Backup]) -> OffsiteSelection:
    """Bring these backups back into BACKUP_DIR with `backup_offsite_fetch`: each one that is
    off-site and whose dump or manifest is not local; the others are skipped with the reason.
    The bucket is not trusted: a fetched copy whose signature, size or checksum is wrong is
    removed again and reported as failed. After the store itself fails, the rest are not
    tried. Held under the backup-or-restore lock, so off-site rotation cannot delete a copy
    while it comes down. Raises ValidationError when off-site copies are off, BackupBusy when
    the lock stays taken past BACKUP_LOCK_TIMEOUT_SECONDS."""
    # Imported here: the verify service imports this module to fetch before verifying.
    from backups_app.services.verify import check_files

    if not conf.offsite_enabled():
        raise ValidationError("Off-site copies are off: BACKUP_OFFSITE_BUCKET is not set.")
    result = OffsiteSelection()
    backup_dir = conf.backup_dir()
    store_failed = False
    chosen = Backup.objects.filter(pk__in=[b.pk for b in backups]).order_by("started_at")
    with get_engine().lock(timeout=conf.lock_timeout_seconds()):
        for backup in chosen:
            local = backup_dir / backup.name
            if backup.offsite_at is None:
                result.skipped[backup.name] = "not off-site"
                continue
            if local.is_file() and files.manifest_path_for(local).is_file():
                result.skipped[backup.name] = "already local"
                continue
            if store_failed:
                result.skipped[backup.name] = "not tried after the off-site store failed"
                continue
            try:
                dump = backup_offsite_fetch(name=backup.name)
            except ValidationError as err:
                result.failed[backup.name] = error_text(err)
                continue
            except offsite.STORE_ERRORS as err:  # the store is down before anything came
                result.failed[backup.name] = f"Could not fetch it from off-site: {err}"
                store_failed = True
                continue
            try:
                check_files(dump=dump)
            except VerificationError as err:
                dump.unlink(missing_ok=True)
                files.manifest_path_for(dump).unlink(missing_ok=True)
                result.failed[backup.name] = f"{err} The fetched files were removed."
                continue
            result.done.append(backup.name)
            logger.info("backup fetched from off-site on request name=%s", backup.name)
    return result
