"""After a burst: how the signups were covered by backups (run with Django configured).

Prints JSON: pending requests, backups taken since START (ISO time), the worst and median time
from a signup's commit to the verified backup that covers it.
"""

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import django

    django.setup()
    from django.utils.dateparse import parse_datetime

    from backups_app.models import Backup, PendingBackupRequest

    start = parse_datetime(sys.argv[1])
    requests = PendingBackupRequest.objects.filter(requested_at__gte=start)
    pending = requests.filter(covered_at__isnull=True).count()
    backups = {b.name: b for b in Backup.objects.filter(started_at__gte=start)}
    delays = [
        (r.covered_at - r.requested_at).total_seconds()
        for r in requests.filter(covered_at__isnull=False)
    ]
    covering = {r.covered_by for r in requests.filter(covered_at__isnull=False)}
    print(
        json.dumps(
            {
                "requests": requests.count(),
                "pending": pending,
                "backups": len(backups),
                "covering_backups": len(covering),
                "covering_all_verified": all(
                    backups[name].verification_ok for name in covering if name in backups
                ),
                "worst_delay_s": max(delays) if delays else None,
                "median_delay_s": statistics.median(delays) if delays else None,
            }
        )
    )


if __name__ == "__main__":
    main()
