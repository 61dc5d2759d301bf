"""Automatic backups: requests recorded after each signup, which backups cover them, and the
worker that coalesces them into backups (§4.6)."""

import datetime
import enum
import time
from dataclasses import dataclass

from django.utils import timezone

from backups_app import conf
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.exceptions import BackupBusy, BackupError
from backups_app.models import Backup, PendingBackupRequest
from backups_app.request_buffer import request_buffer
from backups_app.selectors import (
    CLOCK_SKEW,
    DueReason,
    QueueState,
    backup_latest,
    due_reason,
    queue_state,
    restore_test_due,
    retry_wait_until,
    schedule_due,
    spacing_wait_until,
)
from backups_app.services.catalogue import Leftovers, backup_leftovers_clean
from backups_app.services.create import backup_create_locked
from backups_app.services.journal import journal_catch_up
from backups_app.services.journal_offsite import journal_offsite_ship
from backups_app.services.offsite import backup_offsite_rotate, backup_offsite_upload_pending
from backups_app.services.rotate import backup_rotate
from backups_app.services.verify import backup_verify


def backup_request_record(*, signup_id: int | None, using: str = "default") -> None:
    """Record that a committed signup needs a backup. Called from the signup's on_commit hook,
    so it only buffers the request in memory; `request_buffer` writes batches in the background
    (see backups_app/request_buffer.py for why and for what protects a lost request)."""
    request_buffer.add(signup_id=signup_id, using=using)


def backup_requests_flush() -> int:
    """Write this process's buffered requests now (the worker pass, tests, shutdown)."""
    return request_buffer.flush()


def backup_requests_mark_covered(*, backup: Backup, rows: list[tuple]) -> int:
    """Mark the requests `backup` holds as covered by it (the first backup wins); return how many.

    Held are: the requests visible in the dump's snapshot (`rows`, their ids as the dump read
    them), and those written later but stamped before the backup began (a request is stamped
    just after its signup committed, so that signup was in the snapshot). Called by
    `backup_create` once the backup is catalogued.
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


def mark_held_requests() -> int:
    """Mark covered the requests written after the newest backup for signups it holds."""
    newest = backup_latest()
    if newest is None:
        return 0
    return PendingBackupRequest.objects.filter(
        covered_at__isnull=True, requested_at__lt=newest.started_at - CLOCK_SKEW
    ).update(covered_at=newest.finished_at or timezone.now(), covered_by=newest.name)


class WorkerAction(enum.StrEnum):
    """What one pass of the backup worker did (its log line says it as this string)."""

    IDLE = "idle"
    WAITING = "waiting"  # signups wait, but the debounce or the spacing holds the backup off
    BACKING_OFF = "backing-off"  # after failed automatic backups
    BUSY = "busy"  # another backup or restore holds the lock
    BACKED_UP = "backed-up"
    FAILED = "failed"
    RESTORE_TESTED = "restore-tested"

    @property
    def noteworthy(self) -> bool:
        """Worth a log line from a worker that otherwise passes quietly every second."""
        return self in {self.BACKED_UP, self.FAILED, self.BACKING_OFF, self.RESTORE_TESTED}


@dataclass
class WorkerPass:
    action: WorkerAction
    pending: int = 0
    backup: Backup | None = None
    detail: str = ""
    #: What this pass cleared up after killed or failed operations.
    leftovers: Leftovers | None = None


def _reason_to_back_up(state: QueueState, now: datetime.datetime) -> DueReason | None:
    # Waiting signups follow the debounce and max-delay rules, spaced out when the journal
    # holds them already; the schedule is for quiet times.
    if not state.empty:
        reason = due_reason(state=state, now=now)
        if reason is not None and spacing_wait_until(now=now) is not None:
            return None
        return reason
    return DueReason.SCHEDULE if schedule_due(now=now) else None


def backup_worker_pass(*, now: datetime.datetime | None = None) -> WorkerPass:
    """One pass of the worker: back up when the queue is due (or the schedule is), else wait.

    Safe with any number of workers on any number of hosts: the backup lock is only tried, and
    the queue is read again under it, so one dump covers what all of them saw.
    """
    now = now or timezone.now()
    backup_requests_flush()  # requests this process buffered (a worker inside the web process)
    # Before anything else, so a backup killed mid-dump is settled (and retried) at once.
    leftovers = backup_leftovers_clean()
    _journal_catch_up_pass(now)
    pass_result = _worker_pass(now)
    pass_result.leftovers = leftovers
    if conf.offsite_enabled():
        _offsite_pass(now)
    return pass_result


#: How often the worker makes sure every committed signup is journalled (journal_catch_up).
JOURNAL_CATCH_UP_SECONDS = 60
_journal_caught_up_at: float | None = None


def _journal_catch_up_pass(now: datetime.datetime) -> None:
    global _journal_caught_up_at
    clock = time.monotonic()
    if _journal_caught_up_at is not None and clock - _journal_caught_up_at < (
        JOURNAL_CATCH_UP_SECONDS
    ):
        return
    _journal_caught_up_at = clock
    try:
        journal_catch_up(now=now)
    except Exception:  # the worker must go on taking backups whatever the journal does
        logger.exception("signup journal catch-up failed")


def _offsite_pass(now: datetime.datetime) -> None:
    """Copy what is not off-site yet, then apply off-site retention. A store that is down or
    refusing is recorded per backup (back-off, /health/ lag); it never breaks the pass."""
    try:
        backup_offsite_upload_pending(now=now)
        journal_offsite_ship()
        backup_offsite_rotate()
    except Exception:  # the worker must go on taking backups whatever the store does
        logger.exception("off-site pass failed")


def _worker_pass(now: datetime.datetime) -> WorkerPass:
    mark_held_requests()
    state = queue_state()
    reason = _reason_to_back_up(state, now)
    if reason is None:
        if state.empty and (newest := restore_test_due(now=now)) is not None:
            result = backup_verify(backup=newest, restore_test=True, lock_timeout=0)
            if result.busy:
                return WorkerPass(WorkerAction.BUSY, detail="another backup or restore is running")
            return WorkerPass(WorkerAction.RESTORE_TESTED, backup=newest, detail=result.detail)
        return WorkerPass(
            WorkerAction.IDLE if state.empty else WorkerAction.WAITING, pending=state.pending
        )
    retry_at = retry_wait_until(now=now)
    if retry_at is not None:
        return WorkerPass(
            WorkerAction.BACKING_OFF,
            pending=state.pending,
            detail=f"next try at {retry_at.isoformat()}",
        )
    engine = get_engine()
    try:
        with engine.lock(timeout=0):
            state = queue_state()
            reason = _reason_to_back_up(state, now)
            if reason is None:
                return WorkerPass(
                    WorkerAction.IDLE, pending=state.pending, detail="covered meanwhile"
                )
            kind = Backup.Kind.SCHEDULED if reason == DueReason.SCHEDULE else Backup.Kind.AUTO
            backup = backup_create_locked(engine=engine, kind=kind, triggered_by="worker")
    except BackupBusy:
        return WorkerPass(
            WorkerAction.BUSY, pending=state.pending, detail="another backup is running"
        )
    except BackupError as err:
        # Recorded, logged and mailed by backup_create; the requests stay pending.
        return WorkerPass(WorkerAction.FAILED, pending=state.pending, detail=str(err))
    # Read the new file back against its checksum before calling the signups safe. Outside the
    # lock: the next dump need not wait for it.
    backup_verify(backup=backup)
    try:
        backup_rotate()
    except BackupError as err:
        logger.warning("rotation after %s skipped: %s", backup.name, err)
    return WorkerPass(WorkerAction.BACKED_UP, pending=state.pending, backup=backup, detail=reason)


def backup_scheduled_run() -> Backup | None:
    """The scheduled backup (cron): one when the newest is older than BACKUP_SCHEDULE_SECONDS."""
    if not schedule_due(now=timezone.now()):
        return None
    engine = get_engine()
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        return backup_create_locked(engine=engine, kind=Backup.Kind.SCHEDULED, triggered_by="cron")
