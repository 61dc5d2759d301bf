"""The health checks behind /health/ (§6.4): is every signup safe, and can we prove it?"""

import datetime
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from backups_app import conf, files
from backups_app.models import Backup
from backups_app.selectors import backup_latest, offsite_lag_seconds, queue_state, spacing_seconds
from backups_app.services.journal import journal_status
from waitlist.models import Signup

# A signup this much newer than the newest journal entry means the journal is not written.
JOURNAL_SLACK_SECONDS = 60

# The newest backup may be this many schedule periods old before health says so.
SCHEDULE_SLACK = 1.5
# Free space wanted in BACKUP_DIR: room for this many more backups of the newest one's size.
DISK_HEADROOM = 2
DISK_MINIMUM_BYTES = 50 * 1024 * 1024


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


def health_report(*, now: datetime.datetime | None = None) -> list[Check]:
    """Every check, in order; a check that cannot run (the database is down) fails."""
    now = now or timezone.now()
    checks: list[tuple[str, Callable[[datetime.datetime], Check]]] = [
        ("database", check_database),
        ("newest_backup", check_newest_backup),
        ("rpo", check_rpo),
        ("restore_test", check_restore_test),
        ("disk", check_disk),
    ]
    if conf.offsite_enabled():
        checks.append(("offsite", check_offsite))
    checks.append(("journal", check_journal))
    report = []
    for name, check in checks:
        try:
            report.append(check(now))
        except Exception as err:  # the report must come back whatever is broken
            report.append(Check(name, False, f"could not be checked: {type(err).__name__}: {err}"))
    return report


def check_database(now: datetime.datetime) -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check("database", True, f"{connection.vendor} reachable")


def check_newest_backup(now: datetime.datetime) -> Check:
    newest = backup_latest()
    limit = conf.schedule_seconds() * SCHEDULE_SLACK
    if newest is None:
        return Check("newest_backup", False, "no successful backup yet", {"max_age_seconds": limit})
    age = (now - newest.started_at).total_seconds()
    figures = {"name": newest.name, "age_seconds": round(age, 1), "max_age_seconds": limit}
    if problem := _missing_files(newest):
        return Check("newest_backup", False, f"{newest.name}: {problem}", figures)
    if age > limit:
        return Check("newest_backup", False, f"{newest.name} is {age:.0f} s old", figures)
    return Check("newest_backup", True, f"{newest.name}, {age:.0f} s old", figures)


def _missing_files(backup: Backup) -> str:
    """What is wrong with the backup's files on disk ('' when its dump has the size the
    catalogue recorded and its manifest is there): the catalogue alone proves nothing."""
    dump = conf.backup_dir() / backup.name
    try:
        size = dump.stat().st_size
    except FileNotFoundError:
        return f"its dump file is missing from {dump.parent}"
    if size != backup.size_bytes:
        return f"its dump file is {size} bytes, the catalogue recorded {backup.size_bytes}"
    if not (dump.parent / files.manifest_name_for(backup.name)).is_file():
        return "its manifest is missing"
    return ""


def check_rpo(now: datetime.datetime) -> Check:
    state = queue_state()
    # With the journal on, dumps of a large list are spaced (services/auto.py): the signups
    # waiting meanwhile are journalled, and the wait is allowed for.
    rpo = conf.rpo_seconds() + spacing_seconds(newest=backup_latest())
    waited = (now - state.oldest_at).total_seconds() if state.oldest_at else 0.0
    figures = {
        "pending_requests": state.pending,
        "signups_newer_than_every_backup": state.unbacked_signups,
        "oldest_waiting_seconds": round(waited, 1),
        "rpo_seconds": rpo,
    }
    if waited > rpo:
        return Check("rpo", False, f"a signup has waited {waited:.0f} s for a backup", figures)
    detail = "every signup is in a backup" if state.empty else f"oldest waiting {waited:.0f} s"
    return Check("rpo", True, detail, figures)


def check_restore_test(now: datetime.datetime) -> Check:
    last = Backup.objects.filter(restore_tested=True).order_by("-verified_at").first()
    interval = conf.restore_test_seconds()
    if last is None:
        oldest = (
            Backup.objects.filter(status=Backup.Status.SUCCEEDED).order_by("started_at").first()
        )
        if oldest is not None and (now - oldest.started_at).total_seconds() > interval:
            return Check("restore_test", False, "no backup has ever been restore-tested")
        return Check("restore_test", True, "no restore test yet (the worker runs one daily)")
    age = (now - last.verified_at).total_seconds()
    figures = {
        "name": last.name,
        "ok": last.verification_ok,
        "age_seconds": round(age, 1),
        "restore_seconds": last.restore_seconds,
    }
    if not last.verification_ok:
        return Check("restore_test", False, f"{last.name}: {last.verification_detail}", figures)
    if age > 2 * interval:
        return Check("restore_test", False, f"the last restore test is {age:.0f} s old", figures)
    return Check(
        "restore_test",
        True,
        f"{last.name} restored in {last.restore_seconds:.2f} s, {age:.0f} s ago",
        figures,
    )


def check_disk(now: datetime.datetime) -> Check:
    folder = conf.backup_dir()
    existing = next(p for p in [folder, *folder.parents] if Path(p).exists())
    free = shutil.disk_usage(existing).free
    newest = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, size_bytes__isnull=False)
        .order_by("-started_at")
        .first()
    )
    needed = max(DISK_MINIMUM_BYTES, DISK_HEADROOM * (newest.size_bytes if newest else 0))
    figures = {"free_bytes": free, "needed_bytes": needed, "path": str(folder)}
    if free < needed:
        return Check("disk", False, f"{free} bytes free, {needed} needed", figures)
    return Check("disk", True, f"{free // (1024 * 1024)} MB free", figures)


def check_offsite(now: datetime.datetime) -> Check:
    """Off-site lag (§8.1): how long the oldest backup not yet off-site has waited."""
    lag = offsite_lag_seconds(now=now)
    if lag is None:
        return Check("offsite", True, "off-site copies are off (BACKUP_OFFSITE_BUCKET unset)")
    limit = conf.offsite_max_lag_seconds()
    waiting = Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=True)
    failing = waiting.exclude(offsite_error="").order_by("-offsite_attempts").first()
    figures = {
        "lag_seconds": round(lag, 1),
        "max_lag_seconds": limit,
        "waiting": waiting.count(),
        "last_error": failing.offsite_error if failing else "",
    }
    if lag > limit:
        detail = f"off-site lag {lag:.0f} s (limit {limit:.0f} s)"
        if failing is not None:
            detail += f": {failing.offsite_error}"
        return Check("offsite", False, detail, figures)
    if not figures["waiting"]:
        return Check("offsite", True, "every backup is off-site", figures)
    return Check("offsite", True, f"off-site lag {lag:.0f} s", figures)


def check_journal(now: datetime.datetime) -> Check:
    """The signup journal (§11): its size, newest entry and entries no backup holds yet; it
    fails when signups are committed but not journalled (its folder unwritable, a full disk)."""
    status = journal_status()
    figures = status.as_dict()
    if not status.enabled:
        return Check("journal", True, "the signup journal is off (BACKUP_JOURNAL=0)", figures)
    newest_signup = (
        Signup.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    )
    journalled_until = status.newest_entry_at
    if newest_signup is not None and (now - newest_signup).total_seconds() < 86400:
        behind = (
            newest_signup - journalled_until if journalled_until else now - newest_signup
        ).total_seconds()
        if behind > JOURNAL_SLACK_SECONDS:
            return Check(
                "journal",
                False,
                f"the newest signup ({newest_signup.isoformat()}) is not journalled: see the "
                "log for 'signup journal' errors (BACKUP_DIR/journal unwritable, disk full?)",
                figures,
            )
    detail = (
        f"{status.segments} segments, {status.size_bytes // 1024} KB, "
        f"{status.unbacked_entries} entries not yet in a backup"
    )
    return Check("journal", True, detail, figures)
