"""One measured operation in a fresh process: prints JSON with seconds and peak memory.

Usage: python bench/measure.py backup | restore NAME | export
"""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import django

    django.setup()
    from django.db import connection

    from backups_app.engines import get_engine
    from backups_app.models import Backup
    from backups_app.services import backup_create, backup_restore

    # Warm up as a long-running worker is: connected, modules loaded, the ORM primed. What is
    # timed is the backup or restore itself, as `pg_dump > file` times pg_dump itself.
    connection.ensure_connection()
    Backup.objects.exists()
    get_engine()
    operation = sys.argv[1]
    clock = time.perf_counter()
    if operation == "backup":
        backup = backup_create(kind=Backup.Kind.MANUAL, triggered_by="bench")
        result = {"name": backup.name, "size_bytes": backup.size_bytes}
    elif operation == "export":
        from backups_app.services import waitlist_export_csv

        export = waitlist_export_csv(triggered_by="bench")
        result = {"rows": export.row_count, "size_bytes": export.size_bytes}
    elif operation == "restore":
        restored = backup_restore(name=sys.argv[2], triggered_by="bench")
        safety = Backup.objects.get(name=restored.safety_backup)
        result = {"safety_seconds": safety.duration_seconds}
    else:
        raise SystemExit(f"unknown operation {operation!r}")
    result["seconds"] = time.perf_counter() - clock
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
