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


def peak_rss_mb() -> float:
    """This process's own peak (VmHWM): ru_maxrss survives exec on Linux, so it would report
    the launching process's peak when that was larger (the bench hosting the S3 server)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report() -> None:
    Path(os.environ["BENCH_RSS_FILE"]).write_text(
        json.dumps(
            {
                "maxrss_mb": peak_rss_mb(),
                "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    atexit.register(report)
    sys.argv = [str(PROJECT / "manage.py"), *sys.argv[1:]]
    sys.path[0] = str(PROJECT)  # the project, not bench/, as `python manage.py` has it
    runpy.run_path(str(PROJECT / "manage.py"), run_name="__main__")
