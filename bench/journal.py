"""Issue 12's figures (§11): what the signup journal costs and what it saves, on PostgreSQL.

- signup latency p50/p99 with the journal against without it (same load, gunicorn x2,
  interleaved rounds), and the journal's bytes per signup;
- replay of 100,000 journalled signups after the table lost them, as a whole `manage.py
  replay_journal` process (what a user times);
- bytes of automatic dumps written per hour under a sustained signup load on a 1,000,000-signup
  database, with the journal (dumps spaced by size) against without it (a dump per max delay).

Called by bench/run.py (`make bench`; BENCH_ONLY=journal runs only this part).
"""

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from bench.run import (
    FILL_PG,
    PYTHON,
    ROWS,
    Site,
    admin_environment,
    environment,
    load,
    manage,
    output_of,
    percentile,
    pg_scratch_database,
    start_worker,
)

PG_JOURNAL_DB = "waitlist_bench_journal"
REPLAY_SIGNUPS = int(os.environ.get("BENCH_REPLAY_SIGNUPS", "100000"))
#: The sustained load: signups a second, for this many seconds, in each configuration.
SUSTAIN_RATE = float(os.environ.get("BENCH_SUSTAIN_RATE", "10"))
SUSTAIN_SECONDS = float(os.environ.get("BENCH_SUSTAIN_SECONDS", "240"))
#: The tighter dump budget an operator may choose (BACKUP_AUTO_BYTES_PER_HOUR), measured too,
#: over a window long enough to hold at least one spaced dump.
TIGHT_BUDGET = int(os.environ.get("BENCH_TIGHT_BUDGET", str(2 * 1024**3)))
TIGHT_SECONDS = float(os.environ.get("BENCH_TIGHT_SECONDS", "480"))
#: Signups per set-up in the latency comparison, and its rounds (each runs every set-up once).
LATENCY_SIGNUPS = int(os.environ.get("BENCH_JOURNAL_SIGNUPS", "6000"))
LATENCY_ROUNDS = int(os.environ.get("BENCH_JOURNAL_ROUNDS", "30"))
#: gunicorn workers of the latency comparison: the README's production command runs 4 on this
#: 2-core machine (a worker waiting on a disk flush or the database leaves the core to another).
LATENCY_WORKERS = int(os.environ.get("BENCH_JOURNAL_WORKERS", "4"))
#: BENCH_JOURNAL_LATENCY_ONLY=1: only the latency comparison (minutes, not a quarter hour).
LATENCY_ONLY = os.environ.get("BENCH_JOURNAL_LATENCY_ONLY", "0") == "1"

MAKE_JOURNAL = """
import time
from django.db import connection
from backups_app.services.journal import journal_close, journal_record_signup, signup_row
from waitlist.models import Signup

total = {total}
clock = time.perf_counter()
with connection.cursor() as cursor:
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM waitlist_responses")
    first = cursor.fetchone()[0] + 1
batch = [
    Signup(id=first + n, full_name=f"Replay Fan {{n}}", email=f"replay{{n}}@example.com",
           city="Pune", country="India", consent=True)
    for n in range(total)
]
Signup.objects.bulk_create(batch, batch_size=5000)
for signup in batch:
    journal_record_signup(signup_id=signup.pk, row=signup_row(signup=signup))
journal_close()
with connection.cursor() as cursor:
    cursor.execute("DELETE FROM waitlist_responses WHERE email LIKE 'replay%%'")
print(round(time.perf_counter() - clock, 1))
"""

BACKUP_BYTES = """
import json
from backups_app.models import Backup
since = "{since}"
rows = Backup.objects.filter(status="succeeded", kind="auto", started_at__gte=since)
print(json.dumps({{"count": rows.count(), "bytes": sum(b.size_bytes or 0 for b in rows)}}))
"""


def _psql(url: str, sql: str, env: dict) -> str:
    return subprocess.run(
        ["psql", url, "-qAtc", sql], check=True, env=env, capture_output=True, text=True
    ).stdout.strip()


def _shell(env: dict, code: str) -> str:
    output = output_of([PYTHON, "manage.py", "shell", "-v", "0", "-c", code], env=env)
    return output.strip().splitlines()[-1]


def _now_iso() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat()


def bench_journal(workdir: Path) -> list[str]:
    admin = admin_environment()
    lines = ["PostgreSQL signup journal (§11):"]
    with pg_scratch_database(PG_JOURNAL_DB) as url:
        env = {**environment(workdir, url), "SIGNUP_RATE_LIMIT": "0"}
        manage(env, "migrate", "-v0")
        lines += _latency(env, workdir)
        if not LATENCY_ONLY:
            lines += _replay(env)
            lines += _bytes_per_hour(env, url, admin)
    return lines


def _journal_bytes(workdir: Path) -> tuple[int, int]:
    """(bytes, entry lines) of every segment in the bench's journal folder."""
    size = lines = 0
    for path in (workdir / "backups" / "journal").glob("segment-*.jsonl"):
        data = path.read_bytes()
        size += len(data)
        lines += data.count(b"\n") - 1  # the header
    return size, lines


def _latency(env: dict, workdir: Path) -> list[str]:
    """Without the journal, with it (the thanks page waiting for the flush, the default
    BACKUP_JOURNAL_FSYNC=wait), and with the flush beside the request (`background`).

    The three sites run side by side and take turns in many short rounds (the order turning
    each round), each round's figures compared with the same round's: this machine is a VM
    whose neighbours come and go, and a set-up measured for half a second at a time would
    mostly measure them. The median of the per-round ratios is printed beside the ratio of the
    pooled latencies."""
    configurations = {
        "without": {"BACKUP_JOURNAL": "0"},
        # The same set-up again: its ratio is what the machine's noise alone makes.
        "control": {"BACKUP_JOURNAL": "0"},
        "with": {"BACKUP_JOURNAL": "1", "BACKUP_JOURNAL_FSYNC": "background"},
        "wait": {"BACKUP_JOURNAL": "1", "BACKUP_JOURNAL_FSYNC": "wait"},
    }
    names = list(configurations)
    latencies = {name: [] for name in configurations}
    round_p50 = {name: [] for name in configurations}
    per_round = max(1, LATENCY_SIGNUPS // LATENCY_ROUNDS)
    sites = {}
    try:
        for name, settings in configurations.items():
            sites[name] = Site({**env, **settings}, "bench.settings", workers=LATENCY_WORKERS)
            load(sites[name].url, 100, 4, 0, f"jwarm-{name}-")
        for round_number in range(LATENCY_ROUNDS):
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                result = load(sites[name].url, per_round, 4, 0, f"jlat-{name}-{round_number}-")
                latencies[name] += result["latencies_ms"]
                round_p50[name].append(statistics.median(result["latencies_ms"]))
    finally:
        for site in sites.values():
            site.stop()
    p50 = {k: statistics.median(v) for k, v in latencies.items()}
    p99 = {k: percentile(v, 0.99) for k, v in latencies.items()}
    size, entries = _journal_bytes(workdir)

    def line(label: str, name: str) -> str:
        ratios = [a / b for a, b in zip(round_p50[name], round_p50["without"], strict=True)]
        return (
            f"  {label:<40} p50 {p50[name]:.2f} ms = {p50[name] / p50['without']:.2f}x "
            f"(target <= 1.05; per-round median {statistics.median(ratios):.2f}x), "
            f"p99 {p99[name]:.2f} ms = {p99[name] / p99['without']:.2f}x"
        )

    return [
        f"  signups: {per_round * LATENCY_ROUNDS} per set-up in {LATENCY_ROUNDS} rounds taking "
        f"turns, 4 concurrent clients, gunicorn x{LATENCY_WORKERS} each",
        f"  {'without journal':<40} p50 {p50['without']:.2f} ms, p99 {p99['without']:.2f} ms",
        line("without journal again (noise control)", "control"),
        line("with journal (default: FSYNC=wait)", "wait"),
        line("with journal, BACKUP_JOURNAL_FSYNC=background", "with"),
        f"  journal: {entries} entries, {size} bytes = {size / max(entries, 1):.0f} bytes per signup",
    ]


def _replay(env: dict) -> list[str]:
    made = _shell({**env, "BACKUP_JOURNAL_FSYNC": "off"}, MAKE_JOURNAL.format(total=REPLAY_SIGNUPS))
    clock = time.perf_counter()
    output = output_of([PYTHON, "manage.py", "replay_journal", "--json"], env=env)
    seconds = time.perf_counter() - clock
    report = json.loads(output)
    if report["inserted"] < REPLAY_SIGNUPS:
        raise SystemExit(f"replay inserted {report['inserted']} of {REPLAY_SIGNUPS}")
    return [
        f"  replay of {REPLAY_SIGNUPS} journalled signups the table lost "
        f"(journalled in {made} s): `manage.py replay_journal` {seconds:.2f} s whole process, "
        f"{report['entries']} entries read, {report['inserted']} inserted"
    ]


def _bytes_per_hour(env: dict, url: str, admin: dict) -> list[str]:
    """A sustained signup load on a ROWS-signup database with the worker running, with and
    without the journal: bytes of automatic dumps written, scaled to an hour."""
    _psql(url, FILL_PG, admin)
    manage(env, "backup")  # the load starts from a backed-up database
    results = {}
    windows = {}
    configurations = (
        ("without", {"BACKUP_JOURNAL": "0"}, SUSTAIN_SECONDS),
        ("with", {"BACKUP_JOURNAL": "1"}, SUSTAIN_SECONDS),
        (
            "tight",
            {"BACKUP_JOURNAL": "1", "BACKUP_AUTO_BYTES_PER_HOUR": str(TIGHT_BUDGET)},
            TIGHT_SECONDS,
        ),
    )
    for name, settings, seconds in configurations:
        windows[name] = seconds
        total = int(SUSTAIN_RATE * seconds)
        configured = {**env, **settings}
        manage(configured, "backup")
        site = Site(configured, "bench.settings")
        worker = start_worker(configured, 1)
        since = _now_iso()
        try:
            load(site.url, total, 4, seconds, f"sustain-{name}-")
        finally:
            worker.terminate()
            worker.wait(timeout=120)
            site.stop()
        results[name] = json.loads(_shell(configured, BACKUP_BYTES.format(since=since)))
    per_hour = {k: v["bytes"] * 3600 / windows[k] for k, v in results.items()}

    def line(label: str, name: str) -> str:
        less = per_hour["without"] / per_hour[name] if per_hour[name] else float("inf")
        return (
            f"    {label:<44} {results[name]['count']} automatic dumps, "
            f"{per_hour[name] / 1e9:.2f} GB written an hour ({less:.1f}x less)"
        )

    return [
        f"  sustained load on {ROWS:,} signups: {SUSTAIN_RATE:g} signups/s for "
        f"{SUSTAIN_SECONDS:g} s ({TIGHT_SECONDS:g} s for the tight budget), backup_worker running",
        f"    {'without journal (a dump per max delay)':<44} {results['without']['count']} "
        f"automatic dumps, {per_hour['without'] / 1e9:.2f} GB written an hour",
        line("with journal, default budget (16 GiB/h)", "with"),
        line(f"with journal, budget {TIGHT_BUDGET / 1024**3:g} GiB/h", "tight"),
    ]
