"""The status panel of the backup catalogue: each health check (§6.4) in words and plain units.

/health/ keeps its keys and figures for machines; a person reads "Newest backup: 4 minutes
ago", not `newest_backup: ... 240 s old`. The wording is built here from each check's figures;
a check without them (one that could not run) keeps the detail health.py gave it.
"""

import datetime
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from backups_app import conf
from backups_app.health import Check
from backups_app.humanize import human_age, human_size

LABELS = {
    "database": "Database",
    "newest_backup": "Newest backup",
    "rpo": "Data at risk (RPO)",
    "restore_test": "Last restore test",
    "disk": "Disk space",
    "offsite": "Off-site copy",
    "journal": "Signup journal",
}


@dataclass(frozen=True)
class StatusLine:
    """One line of the panel: the check's label, whether it passes, and what it found."""

    label: str
    ok: bool
    detail: str


def status_lines(checks: list[Check], *, now: datetime.datetime) -> list[StatusLine]:
    """The panel's lines, in the order of the health report."""
    return [
        StatusLine(
            label=LABELS.get(check.name, check.name.replace("_", " ").capitalize()),
            ok=check.ok,
            detail=_DETAILS.get(check.name, _as_reported)(check, now),
        )
        for check in checks
    ]


def ago_seconds(seconds: float, now: datetime.datetime) -> str:
    """human_age() for an age given in seconds, as the health figures give it."""
    return human_age(now - datetime.timedelta(seconds=seconds), now)


def duration(seconds: float) -> str:
    """A span in the largest unit, and the next one while the count is small: "45 seconds",
    "1 minute 30 seconds", "20 minutes", "1 hour 30 minutes", "2 days"."""
    whole = round(seconds)
    if whole < 60:
        return _count(whole, "second")
    units = [("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)]
    for index, (unit, size) in enumerate(units):
        if whole >= size:
            count = whole // size
            smaller, smaller_size = units[index + 1]
            rest = (whole % size) // smaller_size if count < 10 else 0
            text = _count(count, unit)
            return f"{text} {_count(rest, smaller)}" if rest else text
    raise AssertionError("unreachable: a minute or more has a unit")


def short_duration(seconds: float) -> str:
    """A measured time: "8 ms", "2.4 s", then duration()."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return duration(seconds)


def _count(number: int, noun: str, plural: str = "") -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _as_reported(check: Check, now: datetime.datetime) -> str:
    return check.detail


def _database(check: Check, now: datetime.datetime) -> str:
    return f"{connection.display_name} reachable" if check.ok else check.detail


def _newest_backup(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if "age_seconds" not in figures:
        return check.detail  # none yet, or it could not be checked
    too_old = figures["age_seconds"] > figures["max_age_seconds"]
    if not check.ok and not too_old:
        return check.detail  # its files are missing or damaged: health says which
    text = f"{ago_seconds(figures['age_seconds'], now)} ({figures['name']})"
    if too_old:
        text += f", older than the {duration(figures['max_age_seconds'])} allowed"
    return text


def _rpo(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if "oldest_waiting_seconds" not in figures:
        return check.detail
    waiting = max(figures["pending_requests"], figures["signups_newer_than_every_backup"])
    allowed = duration(figures["rpo_seconds"])
    if not waiting and check.ok:
        return "every signup is in a backup"
    waited = duration(figures["oldest_waiting_seconds"])
    if not check.ok:
        return f"a signup has waited {waited} for a backup ({allowed} allowed)"
    return (
        f"{_count(waiting, 'signup')} waiting for a backup, the oldest for {waited} "
        f"({allowed} allowed)"
    )


def _restore_test(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if "age_seconds" not in figures or not figures["ok"]:
        return check.detail  # none yet, or the test failed: health says why
    when = ago_seconds(figures["age_seconds"], now)
    if not check.ok:
        wanted = duration(conf.restore_test_seconds())
        return f"{when} ({figures['name']}), one is wanted every {wanted}"
    return f"{when}: {figures['name']} restored in {short_duration(figures['restore_seconds'])}"


def _disk(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if "free_bytes" not in figures:
        return check.detail
    folder = Path(figures["path"])
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    total = f" of {human_size(shutil.disk_usage(existing).total)}" if existing else ""
    text = f"{human_size(figures['free_bytes'])} free{total}"
    if not check.ok:
        text += f", {human_size(figures['needed_bytes'])} needed"
    return text


def _offsite(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if "lag_seconds" not in figures:
        return check.detail  # off-site copies are off, or it could not be checked
    if check.ok and not figures["waiting"]:
        return "every backup is off-site"
    waiting = _count(figures["waiting"], "backup")
    text = (
        f"{waiting} {'waiting' if check.ok else 'not off-site'}, the oldest for "
        f"{duration(figures['lag_seconds'])} ({duration(figures['max_lag_seconds'])} allowed)"
    )
    if not check.ok and figures["last_error"]:
        text += f": {figures['last_error']}"
    return text


def _journal(check: Check, now: datetime.datetime) -> str:
    figures = check.figures
    if not check.ok or not figures.get("enabled"):
        return check.detail  # off, failing, or not checked: health says so in words
    return (
        f"{_count(figures['segments'], 'segment')}, {human_size(figures['size_bytes'])}, "
        f"{_count(figures['unbacked_entries'], 'entry', 'entries')} not yet in a backup"
    )


_DETAILS: dict[str, Callable[[Check, datetime.datetime], str]] = {
    "database": _database,
    "newest_backup": _newest_backup,
    "rpo": _rpo,
    "restore_test": _restore_test,
    "disk": _disk,
    "offsite": _offsite,
    "journal": _journal,
}
