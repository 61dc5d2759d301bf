"""Retention: keep the newest BACKUP_RETENTION backups, never the ones that matter (§4.3)."""

import contextlib

from django.core.exceptions import ValidationError

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services.journal import journal_prune


def backups_to_rotate(*, keep: int) -> list[Backup]:
    """Successful backups rotation would delete, newest first.

    Never: a pinned backup, the `keep` newest unpinned ones, the newest verified backup, or the
    last backup taken before a shrink. With off-site copies on, only local backups count, and
    one not yet off-site is never deleted: its local files are the only copy (§8.1).
    """
    offsite_on = conf.offsite_enabled()
    succeeded = list(Backup.objects.filter(status=Backup.Status.SUCCEEDED).order_by("-started_at"))
    if offsite_on:
        succeeded = [b for b in succeeded if b.is_local]
    protected = {b.pk for b in succeeded if b.pinned}
    unpinned = [b for b in succeeded if not b.pinned]
    protected.update(b.pk for b in unpinned[:keep])
    newest_verified = next((b for b in succeeded if b.verification_ok), None)
    if newest_verified is not None:
        protected.add(newest_verified.pk)
    for index, backup in enumerate(succeeded):
        if backup.shrink_detected and index + 1 < len(succeeded):
            protected.add(succeeded[index + 1].pk)  # the one before it (newest first)
    if offsite_on:
        protected.update(b.pk for b in succeeded if b.offsite_at is None)
    return [b for b in succeeded if b.pk not in protected]


def backup_rotate(*, keep: int | None = None, dry_run: bool = False) -> list[Backup]:
    """Delete (dump and manifest together) the backups retention no longer keeps.

    Returns them, newest first; with `dry_run`, deletes nothing.
    """
    keep = conf.retention() if keep is None else keep
    if keep < 1:
        raise ValidationError(f"Rotation must keep at least one backup (asked to keep {keep}).")
    engine = get_engine()
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        doomed = backups_to_rotate(keep=keep)
        if dry_run:
            return doomed
        backup_dir = conf.backup_dir()
        for backup in doomed:
            # The dump first: a manifest without its dump is skipped by the catalogue sync,
            # while a dump without its manifest would be an orphan nobody lists.
            for path in (
                backup_dir / backup.name,
                backup_dir / files.manifest_name_for(backup.name),
            ):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if backup.offsite_at is None:
                backup.delete()
            # else the entry stays: the backup now lives off-site only.
            logger.info("backup rotated name=%s kind=%s", backup.name, backup.kind)
        # The journal only needs what the oldest backup left does not hold (§11).
        journal_prune()
    return doomed
