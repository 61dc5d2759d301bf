"""Run `manage.py ARGS` in this very process and write its peak memory to BENCH_RSS_FILE.

Usage: python bench/rss.py ARGS... — the whole command as `python manage.py ARGS` runs it
(startup included); at exit, JSON with this process's peak RSS and its children's (pg_dump,
psql) goes to the file named by BENCH_RSS_FILE.
"""

import atexit
import json
import os
import resource
import runpy
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def report() -> None:
    Path(os.environ["BENCH_RSS_FILE"]).write_text(
        json.dumps(
            {
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    atexit.register(report)
    sys.argv = [str(PROJECT / "manage.py"), *sys.argv[1:]]
    sys.path[0] = str(PROJECT)  # the project, not bench/, as `python manage.py` has it
    runpy.run_path(str(PROJECT / "manage.py"), run_name="__main__")
