"""Issue 15's figures (§12): what keeping erased fans erased costs, on both databases.

On a database of BENCH_ROWS signups (1,000,000 by default), with a ledger of 1,000 erasures of
which 100 are of fans the backup still holds, each as a whole `manage.py` process (median of
BENCH_REPEAT):

- `restore --yes` of that backup against the same restore with an empty ledger: the backup's
  rows the live table also holds are not hashed, so this is the everyday cost;
- the same restore after the signup table was emptied (the incident): every restored row is
  hashed, the worst case;
- `export_csv` with the ledger against without it (the guard against a row put back by hand);
- `erase_signup` of one fan.

Called by bench/run.py (`make bench`; BENCH_ERASURE=0 skips it, BENCH_ONLY=erasure runs only
this part). Run alone: `.venv/bin/python bench/erasure.py`.
"""

import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    REPEAT,
    ROWS,
    backup_name_from,
    environment,
    manage,
    manage_rss,
    peak,
    pg_filled,
    pg_scratch_database,
    sqlite_filled,
)

PG_ERASURE_DB = "waitlist_bench_erasure"
ERASURES = 1000
IN_BACKUP = 100

#: Erase fans 1..IN_BACKUP (in the table) and record ERASURES - IN_BACKUP erasures of addresses
#: that are not there, as `signup_erase` would, in one process.
FILL_LEDGER = f"""
from django.db import transaction
from waitlist.erasure import email_hash
from waitlist.models import Erasure, Signup
with transaction.atomic():
    listed = [f"fan{{n}}@example.com" for n in range(1, {IN_BACKUP} + 1)]
    Signup.objects.filter(email__in=listed).delete()
    others = [f"gone{{n}}@example.com" for n in range({ERASURES} - {IN_BACKUP})]
    Erasure.objects.bulk_create(
        [Erasure(email_hash=email_hash(a), erased_by="bench") for a in listed + others]
    )
print(Erasure.objects.count(), Signup.objects.count())
"""
EMPTY_TABLE = (
    "from django.db import connection\n"
    "with connection.cursor() as c: c.execute('DELETE FROM waitlist_responses')\n"
)
EMPTY_LEDGER = "from waitlist.models import Erasure; Erasure.objects.all().delete()\n"


def median_seconds(runs: list[dict]) -> float:
    return statistics.median(m["seconds"] for m in runs)


def restores(env: dict, name: str, *, before: str = "") -> list[dict]:
    runs = []
    for _ in range(REPEAT):
        if before:
            manage(env, "shell", "-c", before)
        runs.append(manage_rss(env, "restore", name, "--yes", "--no-replay"))
    return runs


def line(label: str, ours: float, base: float) -> str:
    return f"  {label:<58} {ours:8.2f} s / {base:7.2f} s = {ours / base:5.2f}x"


def bench_erasure_on(label: str, env: dict) -> list[str]:
    backup = manage_rss(env, "backup")
    name = backup_name_from(backup["stdout"])
    empty = restores(env, name)
    empty_emptied = restores(env, name, before=EMPTY_TABLE)
    empty_export = [manage_rss(env, "export_csv") for _ in range(REPEAT)]
    manage(env, "shell", "-c", FILL_LEDGER)
    everyday = restores(env, name)
    kept = "100 stayed erased" if "100 signup(s) of erased fans" in everyday[-1]["stdout"] else ""
    worst = restores(env, name, before=EMPTY_TABLE)
    with_ledger_export = [manage_rss(env, "export_csv") for _ in range(REPEAT)]
    erase = [
        manage_rss(env, "erase_signup", f"fan{ROWS - n}@example.com", "--reason", "bench")
        for n in range(REPEAT)
    ]
    manage(env, "shell", "-c", EMPTY_LEDGER)
    base_restore = median_seconds(empty)
    return [
        f"{label}, {ROWS:,} signups, a ledger of {ERASURES:,} erasures ({IN_BACKUP} of fans the "
        f"backup holds; {kept or 'CHECK: the restore did not report them'}); whole processes, "
        f"median of {REPEAT}:",
        line("restore --yes, ledger vs empty ledger", median_seconds(everyday), base_restore),
        line(
            "restore --yes into an emptied table, ledger vs empty ledger",
            median_seconds(worst),
            median_seconds(empty_emptied),
        ),
        line(
            "export_csv, ledger vs empty ledger",
            median_seconds(with_ledger_export),
            median_seconds(empty_export),
        ),
        f"  erase_signup (one fan): {median_seconds(erase):.2f} s; peak memory: restore "
        f"{peak(everyday + worst)}, export {peak(with_ledger_export)}, erase {peak(erase)}",
    ]


def bench_erasure(workdir: Path) -> list[str]:
    lines = []
    with pg_scratch_database(PG_ERASURE_DB) as url:
        (workdir / "pg").mkdir()
        env = environment(workdir / "pg", url)
        pg_filled(env, url)
        lines += bench_erasure_on("PostgreSQL", env)
    (workdir / "sqlite").mkdir()
    database = workdir / "sqlite" / "bench.sqlite3"
    env = environment(workdir / "sqlite", f"sqlite:///{database}")
    sqlite_filled(env, database)
    lines += bench_erasure_on("SQLite", env)
    return lines


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="waitlist-bench-erasure-") as folder:
        print("\n".join(bench_erasure(Path(folder))))
