"""Sizes and ages in the words staff read: one place for every command, admin page and chart."""

import datetime

from django.utils import timezone
from django.utils.timesince import timesince


def human_size(size: int | None) -> str:
    """Bytes in the largest binary unit below 1024: "512 B", "36.0 KB", "1.2 GB"; "-" for None."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_age(moment: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """How long ago `moment` was, in its largest unit: "just now" under a minute, else
    "3 hours ago", "1 day ago"."""
    now = now or timezone.now()
    if now - moment < datetime.timedelta(minutes=1):
        return "just now"
    # Django joins number and unit with a no-break space; commands print plain text.
    return timesince(moment, now).split(",")[0].replace("\xa0", " ") + " ago"
