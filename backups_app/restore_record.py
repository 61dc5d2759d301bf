"""What the last deliberate restore left behind, kept beside the backups (docs/spec.md §4.3).

The shrink guard compares each new backup with the one before it; after a restore it must
compare with what the restore put back instead, or the restore itself reads as data loss.
"""

import datetime
import json
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups_app import conf, files

RESTORED_STATE_FILE = "last-restore.json"


def restored_state_record(*, name: str, row_counts: dict[str, int]) -> None:
    """Write down the row counts a restore of backup `name` left, and when."""
    record = {"restored": name, "at": timezone.now().isoformat(), "row_counts": row_counts}
    with files.atomic_file(conf.backup_dir() / RESTORED_STATE_FILE) as handle:
        handle.write(json.dumps(record, indent=2, sort_keys=True).encode() + b"\n")


def restored_state(*, after: datetime.datetime) -> dict[str, Any] | None:
    """The last restore's record when it happened after `after`, else None."""
    try:
        record = json.loads((conf.backup_dir() / RESTORED_STATE_FILE).read_text())
        at = parse_datetime(record["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if at is None or at <= after or not isinstance(record.get("row_counts"), dict):
        return None
    return {**record, "at": at}
