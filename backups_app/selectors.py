"""Reads of the backup catalogue."""

import datetime
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Count, Max, Min, QuerySet
from django.utils import timezone

from backups_app import conf, files
from backups_app.models import Backup, PendingBackupRequest, SchemaChange
from waitlist.models import Signup


def backup_list() -> list[Backup]:
    """Every catalogued backup, newest first."""
    return list(Backup.objects.order_by("-started_at", "-id"))


def backup_get(*, name: str) -> Backup:
    """The catalogue entry a user named (a name or a path inside BACKUP_DIR).

    Raises ValidationError for an unknown name or a path outside the folder.
    """
    raw = str(name).strip()
    match_name = raw.rsplit("/", 1)[-1]
    backup = Backup.objects.filter(name=match_name).first()
    if backup is not None and "/" not in raw:
        return backup
    dump = files.resolve_dump(raw)  # refuses paths outside BACKUP_DIR and unknown files
    backup = Backup.objects.filter(name=dump.name).first()
    if backup is None:
        raise ValidationError(
            f"{dump.name} is on disk but not in the catalogue: run `manage.py listbackups --sync`."
        )
    return backup


def backup_recent(*, limit: int) -> list[Backup]:
    """The newest `limit` successful backups, newest first (the catalogue's chart)."""
    return list(Backup.objects.filter(status=Backup.Status.SUCCEEDED)[:limit])


def backup_local_names() -> set[str]:
    """The names of the dumps in BACKUP_DIR, from one listing of the folder rather than a
    stat per backup (the catalogue's "where" filter); none before the folder exists."""
    folder = conf.backup_dir()
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if files.NAME_PATTERN.match(p.name) and p.is_file()}


def backup_dump_get(*, backup_id: int) -> tuple[Backup, Path]:
    """A successful backup and its dump in BACKUP_DIR, to download.

    Backup.DoesNotExist when no successful backup has that id; ValidationError when its dump is
    not in BACKUP_DIR (its copy off-site is not fetched for this).
    """
    backup = Backup.objects.get(pk=backup_id, status=Backup.Status.SUCCEEDED)
    return backup, files.resolve_dump(backup.name)


def offsite_lag_seconds(*, now: datetime.datetime | None = None) -> float | None:
    """Age of the oldest successful backup not yet off-site (0 when none waits), or None when
    off-site copies are off (§8.1)."""
    if not conf.offsite_enabled():
        return None
    oldest = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=True)
        .order_by("started_at")
        .first()
    )
    if oldest is None:
        return 0.0
    since = oldest.finished_at or oldest.started_at
    return max(0.0, ((now or timezone.now()) - since).total_seconds())


def backup_latest() -> Backup | None:
    return Backup.objects.filter(status=Backup.Status.SUCCEEDED).order_by("-started_at").first()


def backup_summary(*, backup: Backup) -> dict[str, Any]:
    """A backup as plain data for `--json` output and the API."""
    return {
        "name": backup.name,
        "kind": backup.kind,
        "status": backup.status,
        "vendor": backup.vendor,
        "compression": backup.compression,
        "started_at": backup.started_at.isoformat() if backup.started_at else None,
        "finished_at": backup.finished_at.isoformat() if backup.finished_at else None,
        "duration_seconds": backup.duration_seconds,
        "size_bytes": backup.size_bytes,
        "sha256": backup.sha256,
        "row_counts": backup.row_counts,
        "newest_signup_id": backup.newest_signup_id,
        "pinned": backup.pinned,
        "pin_reason": backup.pin_reason,
        "shrink_detected": backup.shrink_detected,
        "shrink_detail": backup.shrink_detail,
        "verified_at": backup.verified_at.isoformat() if backup.verified_at else None,
        "verification_ok": backup.verification_ok,
        "verification_detail": backup.verification_detail,
        "restore_seconds": backup.restore_seconds,
        "error": backup.error,
        "triggered_by": backup.triggered_by,
        "note": backup.note,
        "location": backup.location,
        "offsite_at": backup.offsite_at.isoformat() if backup.offsite_at else None,
        "offsite_attempts": backup.offsite_attempts,
        "offsite_error": backup.offsite_error,
    }


def schema_change_get(*, change_id: int) -> SchemaChange:
    """A schema change from the ledger; ValidationError when there is no such number."""
    change = SchemaChange.objects.filter(pk=change_id).first()
    if change is None:
        raise ValidationError(
            f"There is no schema change #{change_id}; see the ledger in admin (Schema changes)."
        )
    return change


def schema_change_later_undone(*, change: SchemaChange) -> list[SchemaChange]:
    """The changes after `change` that applied migrations and were not rolled back, newest
    first: rolling `change` back undoes them too."""
    later = (
        SchemaChange.objects.filter(
            started_at__gt=change.started_at,
            outcome__in=[SchemaChange.Outcome.APPLIED, SchemaChange.Outcome.FAILED],
        )
        .exclude(pk=change.pk)
        .order_by("-started_at")
    )
    return [c for c in later if c.applied_after != c.applied_before]


def schema_change_list(*, limit: int = 50) -> list[SchemaChange]:
    """The newest entries of the schema-change ledger, newest first."""
    return list(SchemaChange.objects.order_by("-started_at", "-id")[:limit])


def applied_migrations(*, alias: str = "default") -> list[str]:
    """The migrations the database records as applied ("app.name"), sorted; [] before any."""
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return []
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


def schema_change_ledger_exists(*, alias: str = "default") -> bool:
    """Whether the ledger's table exists yet (the first migrate creates it midway)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        return SchemaChange._meta.db_table in connection.introspection.table_names(cursor)


# --- The automatic-backup queue: what waits, and until when the worker holds off -------------

#: The kinds the worker takes by itself (their failures set the back-off).
AUTOMATIC_KINDS = (Backup.Kind.AUTO, Backup.Kind.SCHEDULED)
# Clocks of web and worker hosts may differ a little; only trust stamps older than this.
CLOCK_SKEW = datetime.timedelta(seconds=1)


@dataclass(frozen=True)
class QueueState:
    """What waits for a backup: recorded requests, and signups newer than every backup (a
    request lost in a crash still shows up there)."""

    pending: int
    unbacked_signups: int
    oldest_at: datetime.datetime | None
    newest_at: datetime.datetime | None

    @property
    def empty(self) -> bool:
        return self.pending == 0 and self.unbacked_signups == 0


def unbacked_signups() -> QuerySet[Signup]:
    """Signups newer than the newest signup any successful backup holds."""
    newest = Backup.objects.filter(status=Backup.Status.SUCCEEDED).aggregate(
        newest=Max("newest_signup_id")
    )["newest"]
    return Signup.objects.all() if newest is None else Signup.objects.filter(id__gt=newest)


def waiting_requests() -> QuerySet[PendingBackupRequest]:
    """Requests no backup holds: not marked covered, and stamped after the newest successful
    backup began (one stamped before it belongs to a signup committed before its snapshot)."""
    waiting = PendingBackupRequest.objects.filter(covered_at__isnull=True)
    newest = backup_latest()
    if newest is not None:
        waiting = waiting.filter(requested_at__gte=newest.started_at - CLOCK_SKEW)
    return waiting


def queue_state() -> QueueState:
    requests = waiting_requests().aggregate(
        count=Count("id"), oldest=Min("requested_at"), newest=Max("requested_at")
    )
    signups = unbacked_signups().aggregate(
        count=Count("id"), oldest=Min("created_at"), newest=Max("created_at")
    )
    oldest = [t for t in (requests["oldest"], signups["oldest"]) if t is not None]
    newest = [t for t in (requests["newest"], signups["newest"]) if t is not None]
    return QueueState(
        pending=requests["count"],
        unbacked_signups=signups["count"],
        oldest_at=min(oldest) if oldest else None,
        newest_at=max(newest) if newest else None,
    )


def retry_wait_until(*, now: datetime.datetime) -> datetime.datetime | None:
    """After failed automatic backups, when the next try may run (exponential back-off)."""
    newest_success = backup_latest()
    failures = Backup.objects.filter(status=Backup.Status.FAILED, kind__in=AUTOMATIC_KINDS)
    if newest_success is not None:
        failures = failures.filter(started_at__gt=newest_success.started_at)
    count = failures.count()
    if count == 0:
        return None
    last = failures.aggregate(t=Max("finished_at"))["t"] or now
    wait = min(conf.retry_base_seconds() * 2 ** (count - 1), conf.retry_max_seconds())
    until = last + datetime.timedelta(seconds=wait)
    return until if until > now else None


def spacing_wait_until(*, now: datetime.datetime) -> datetime.datetime | None:
    """With the signup journal on, when the next automatic backup after signups may start.

    The journal holds every signup durably the moment it is accepted (§11), so full dumps
    need not follow each burst: they are spaced so that they write at most
    BACKUP_AUTO_BYTES_PER_HOUR, i.e. the next one waits `size of the newest * 3600 / budget`
    seconds after the newest began. At the default 16 GiB an hour a list whose dump is under
    ~270 MB (some two million signups) is not slowed at all: the wait is shorter than the
    usual max delay, so every signup is in a backup within a minute as before. A list of ten
    million (1.7 GB dumps) is dumped every 6 minutes instead of every minute, with every signup
    journalled meanwhile; health's RPO check allows for the wait (see spacing_seconds).
    """
    newest = backup_latest()
    gap = spacing_seconds(newest=newest)
    if not gap:
        return None
    until = newest.started_at + datetime.timedelta(seconds=gap)
    return until if until > now else None


def spacing_seconds(*, newest: Backup | None) -> float:
    """How long automatic dumps after signups are spaced after `newest` began (0: not)."""
    budget = conf.auto_bytes_per_hour()
    if not conf.journal_enabled() or not budget or newest is None or not newest.size_bytes:
        return 0.0
    return newest.size_bytes * 3600 / budget


class DueReason(enum.StrEnum):
    """Why an automatic backup runs now (the worker's log line says it as this string)."""

    MAX_DELAY = "max-delay"  # the oldest waiting signup reached BACKUP_MAX_DELAY_SECONDS
    DEBOUNCE = "debounce"  # no signup for BACKUP_DEBOUNCE_SECONDS
    SCHEDULE = "schedule"  # nothing waits, but the newest backup is older than the schedule


def due_reason(*, state: QueueState, now: datetime.datetime) -> DueReason | None:
    """Why an automatic backup should run now, or None: after the debounce's quiet time, or
    when the oldest waiting signup reaches the maximum delay."""
    if state.empty:
        return None
    if (now - state.oldest_at).total_seconds() >= conf.max_delay_seconds():
        return DueReason.MAX_DELAY
    if (now - state.newest_at).total_seconds() >= conf.debounce_seconds():
        return DueReason.DEBOUNCE
    return None


def schedule_due(*, now: datetime.datetime) -> bool:
    """True when the newest successful backup is older than BACKUP_SCHEDULE_SECONDS (or none)."""
    newest = backup_latest()
    if newest is None:
        return True
    return (now - newest.started_at).total_seconds() >= conf.schedule_seconds()


def restore_test_due(*, now: datetime.datetime) -> Backup | None:
    """The newest backup, when the last restore test is older than BACKUP_RESTORE_TEST_SECONDS
    (or there has been none); else None. Proves the backups restore, daily, without cron."""
    newest = backup_latest()
    if newest is None or (newest.restore_tested and newest.verification_ok):
        return None
    last_test = (
        Backup.objects.filter(restore_tested=True)
        .order_by("-verified_at")
        .values_list("verified_at", flat=True)
        .first()
    )
    if last_test is not None and (now - last_test).total_seconds() < conf.restore_test_seconds():
        return None
    return newest
