"""`make bench`: our backup and restore against the raw tools, measured in the same run (§10).

Builds a BENCH_ROWS-signup database (default 1,000,000) on PostgreSQL and on SQLite, then times:
plain pg_dump / psql / sqlite3, our backup and restore (in a fresh process each, with peak
memory), and django-dbbackup's dbbackup/dbrestore. Prints each figure and its ratio to the
raw tool. BENCH_REPEAT (default 3) runs each timing that many times and keeps the median.

Issue 11's figures come last, on their own PostgreSQL database: whole `manage.py` processes
(startup included, peak memory through bench/rss.py) with BACKUP_ENCRYPTION_KEY set, against
pg_dump / psql measured there; then, against a moto S3 server on loopback, backup + upload and
the disaster-recovery restore from off-site with the local folder gone. BENCH_ENCRYPTED=0 and
BENCH_OFFSITE=0 skip them; BENCH_ONLY=secure runs only them.

Issue 12's figures (the signup journal: latency, bytes per signup, replay of 100,000 signups,
dump bytes per hour under sustained load with and without it) come from bench/journal.py;
BENCH_JOURNAL=0 skips them, BENCH_ONLY=journal runs only them.

Issue 15's figures (what keeping erased fans erased costs a restore and an export) come from
bench/erasure.py; BENCH_ERASURE=0 skips them, BENCH_ONLY=erasure runs only them.
"""

import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "waitlist_bench"
FILL_PG = f"""
INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, consent, created_at)
SELECT 'Fan Number ' || g, 'fan' || g || '@example.com', '+1 555 0100', 'Chennai', 'India',
       CASE WHEN g % 10 = 0 THEN 'See you at the show! ''quoted''' ELSE '' END, true,
       now() - g * interval '1 second'
FROM generate_series(1, {ROWS}) AS g;
ANALYZE waitlist_responses;
"""
FILL_SQLITE = f"""
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS})
INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, consent, created_at)
SELECT 'Fan Number ' || n, 'fan' || n || '@example.com', '+1 555 0100', 'Chennai', 'India',
       CASE WHEN n % 10 = 0 THEN 'See you at the show! ''quoted''' ELSE '' END, 1,
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || n || ' seconds')
FROM g;
"""


def timed(command: list[str] | str, *, env: dict, stdin=None, stdout=None) -> float:
    clock = time.perf_counter()
    subprocess.run(command, env=env, stdin=stdin, stdout=stdout, check=True, shell=False)
    return time.perf_counter() - clock


def median_of(run) -> float:
    return statistics.median(run() for _ in range(REPEAT))


def output_of(command: list[str], *, env: dict | None = None) -> str:
    """What `command`, run in the project folder, printed (it must succeed)."""
    done = subprocess.run(command, env=env, cwd=PROJECT, check=True, capture_output=True, text=True)
    return done.stdout


def measure(env: dict, *args: str) -> dict:
    output = output_of([PYTHON, str(PROJECT / "bench" / "measure.py"), *args], env=env)
    return json.loads(output.strip().splitlines()[-1])


def manage(env: dict, *args: str) -> float:
    clock = time.perf_counter()
    subprocess.run(
        [PYTHON, "manage.py", *args],
        env=env,
        cwd=PROJECT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - clock


def environment(workdir: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=database_url,
        BACKUP_DIR=str(workdir / "backups"),
        EXPORT_DIR=str(workdir / "exports"),
        BENCH_DBBACKUP_DIR=str(workdir / "dbbackup"),
        LOG_LEVEL="WARNING",
        BACKUP_LOCK_TIMEOUT_SECONDS="600",
    )
    (workdir / "dbbackup").mkdir(exist_ok=True)
    return env


def admin_environment() -> dict:
    """What psql and pg_dump run with as the bench's administrator: no PG* variable of the
    caller's moves where they connect."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


@contextlib.contextmanager
def pg_scratch_database(name: str) -> Iterator[str]:
    """A new, empty database `name` on the bench's server for the block (its URL), dropped
    after it whatever happened."""
    admin = admin_environment()
    drop = ["psql", PG_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
    subprocess.run(drop, check=True, env=admin)
    subprocess.run(["psql", PG_URL, "-qc", f"CREATE DATABASE {name}"], check=True, env=admin)
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        subprocess.run(drop, env=admin)


def pg_filled(env: dict, url: str) -> None:
    """Migrate the database at `url` and give it BENCH_ROWS signups."""
    manage(env, "migrate", "-v0")
    subprocess.run(["psql", url, "-qc", FILL_PG], check=True, env=admin_environment())


def sqlite_filled(env: dict, database: Path) -> None:
    """Migrate the SQLite database and give it BENCH_ROWS signups."""
    manage(env, "migrate", "-v0")
    subprocess.run(["sqlite3", str(database)], input=FILL_SQLITE.encode(), check=True)


def pg_dump_timed(url: str, dump_file: Path, *, env: dict) -> float:
    """`pg_dump > file`, the raw backup every PostgreSQL ratio is measured against."""
    flags = ["--format=plain", "--clean", "--if-exists", "--no-owner", "--no-privileges"]
    with dump_file.open("wb") as out:
        return timed(["pg_dump", *flags, url], env=env, stdout=out)


def psql_restore_timed(url: str, dump_file: Path, *, env: dict) -> float:
    """`psql -1 < file`, the raw restore every PostgreSQL ratio is measured against."""
    with dump_file.open("rb") as dump:
        return timed(
            ["psql", url, "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1"],
            env=env,
            stdin=dump,
            stdout=subprocess.DEVNULL,
        )


def ratio_line(label: str, ours: float, raw: float, target: float | None) -> str:
    ratio = ours / raw
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target:.2f}: {'met' if ratio <= target else 'MISSED'})"
    return f"  {label:<58} {ours:8.2f} s / {raw:7.2f} s = {ratio:5.2f}x{verdict}"


def bench_postgresql(workdir: Path) -> list[str]:
    admin = admin_environment()
    with pg_scratch_database(PG_BENCH_DB) as url:
        env = environment(workdir, url)
        pg_filled(env, url)
        raw_file = workdir / "raw.sql"
        raw_backup = median_of(lambda: pg_dump_timed(url, raw_file, env=admin))
        ours = [measure(env, "backup") for _ in range(REPEAT)]
        our_backup = statistics.median(m["seconds"] for m in ours)
        backup_name = ours[-1]["name"]
        our_backup_cmd = median_of(lambda: manage(env, "backup"))
        dbbackup_cmd = median_of(lambda: manage(env, "dbbackup", "--noinput"))

        def raw_restore() -> float:
            return psql_restore_timed(url, raw_file, env=admin)

        raw_restore_s = median_of(raw_restore)
        restores = [measure(env, "restore", backup_name) for _ in range(REPEAT)]
        our_restore = statistics.median(m["seconds"] - m["safety_seconds"] for m in restores)
        our_restore_total = statistics.median(m["seconds"] for m in restores)
        dbrestore = median_of(lambda: manage(env, "dbrestore", "--noinput"))

        def raw_copy() -> float:
            with (workdir / "raw.csv").open("wb") as out:
                return timed(
                    [
                        "psql",
                        url,
                        "-X",
                        "-q",
                        "-c",
                        "\\copy (SELECT * FROM waitlist_responses ORDER BY id) to stdout csv header",
                    ],
                    env=admin,
                    stdout=out,
                )

        raw_export = median_of(raw_copy)
        exports = [measure(env, "export") for _ in range(REPEAT)]
        our_export = statistics.median(m["seconds"] for m in exports)
        signup_lines = bench_signups("PostgreSQL", env) if BENCH_SIGNUPS else []
        guard_lines = bench_migration_guard(env, url, admin, raw_backup)
        size_mb = ours[-1]["size_bytes"] / 1e6
        return [
            f"PostgreSQL, {ROWS:,} signups, dump {size_mb:.0f} MB (median of {REPEAT})",
            ratio_line(
                "backup (manifest+checksum+counts) vs pg_dump > file", our_backup, raw_backup, 1.25
            ),
            ratio_line(
                "manage.py backup vs manage.py dbbackup (django-dbbackup)",
                our_backup_cmd,
                dbbackup_cmd,
                1.0,
            ),
            ratio_line(
                "restore (checks, no safety backup) vs psql -1 < file",
                our_restore,
                raw_restore_s,
                1.25,
            ),
            ratio_line(
                "restore incl. pre_restore safety backup vs psql -1 < file",
                our_restore_total,
                raw_restore_s,
                None,
            ),
            f"  django-dbrestore (no checks, no safety backup): {dbrestore:.2f} s",
            f"  peak memory: backup {max(m['maxrss_mb'] for m in ours):.0f} MB, "
            f"restore {max(m['maxrss_mb'] for m in restores):.0f} MB (target < 100 MB); "
            f"pg_dump/psql children {max(m['children_maxrss_mb'] for m in ours + restores):.0f} MB",
            ratio_line(
                "CSV export (neutralised, checksummed) vs psql \\copy csv",
                our_export,
                raw_export,
                2.0,
            ),
            f"  CSV export peak memory {max(m['maxrss_mb'] for m in exports):.0f} MB (target < 150 MB), "
            f"{exports[-1]['rows']:,} rows",
            *signup_lines,
            *guard_lines,
        ]


def bench_migration_guard(env: dict, url: str, admin: dict, raw_backup: float) -> list[str]:
    """The §7 guard on the full database: the read-only report, a refused destructive migrate,
    the same migrate allowed (verified backup first), and its rollback."""

    def psql_value(sql: str) -> str:
        return subprocess.run(
            ["psql", url, "-XAtqc", sql], env=admin, check=True, capture_output=True, text=True
        ).stdout.strip()

    signups = int(psql_value("SELECT count(*) FROM waitlist_responses"))
    clock = time.perf_counter()
    report = subprocess.run(
        [PYTHON, "manage.py", "migration_risk", "waitlist", "zero"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
    )
    report_s = time.perf_counter() - clock
    clock = time.perf_counter()
    refused = subprocess.run(
        [PYTHON, "manage.py", "migrate", "waitlist", "zero", "--noinput"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
    )
    refused_s = time.perf_counter() - clock
    kept = int(psql_value("SELECT count(*) FROM waitlist_responses"))
    allowed_s = manage(
        env, "migrate", "waitlist", "zero", "--noinput", "--allow-dangerous", "--reason", "bench"
    )
    change = psql_value("SELECT max(id) FROM backups_app_schemachange")
    rollback_s = manage(env, "rollback_schema_change", change, "--yes")
    back = int(psql_value("SELECT count(*) FROM waitlist_responses"))
    return [
        f"  migration guard on {signups:,} signups (`migrate waitlist zero`, high risk):",
        f"    migration_risk report: {report_s:.2f} s (exit {report.returncode}); "
        f"refused migrate: {refused_s:.2f} s (exit {refused.returncode}), "
        f"signups still there: {kept:,}",
        ratio_line(
            "    allowed: backup + restore test + apply vs pg_dump > file",
            allowed_s,
            raw_backup,
            None,
        ),
        f"    rollback_schema_change: {rollback_s:.2f} s, signups back: {back:,}",
    ]


def bench_sqlite(workdir: Path) -> list[str]:
    database = workdir / "bench.sqlite3"
    env = environment(workdir, f"sqlite:///{database}")
    sqlite_filled(env, database)
    raw_file = workdir / "raw.sql"

    def raw_dump() -> float:
        with raw_file.open("wb") as out:
            return timed(["sqlite3", str(database), ".dump"], env=env, stdout=out)

    raw_backup = median_of(raw_dump)
    ours = [measure(env, "backup") for _ in range(REPEAT)]
    our_backup = statistics.median(m["seconds"] for m in ours)
    backup_name = ours[-1]["name"]

    def raw_restore() -> float:
        target = workdir / "new.db"
        target.unlink(missing_ok=True)
        with raw_file.open("rb") as dump:
            return timed(["sqlite3", str(target)], env=env, stdin=dump)

    raw_restore_s = median_of(raw_restore)
    restores = [measure(env, "restore", backup_name) for _ in range(REPEAT)]
    our_restore = statistics.median(m["seconds"] - m["safety_seconds"] for m in restores)
    our_restore_total = statistics.median(m["seconds"] for m in restores)
    size_mb = ours[-1]["size_bytes"] / 1e6
    signup_lines = bench_signups("SQLite", env) if BENCH_SIGNUPS else []
    return [
        f"SQLite, {ROWS:,} signups, dump {size_mb:.0f} MB (median of {REPEAT})",
        ratio_line(
            "backup (manifest+checksum+counts) vs sqlite3 db .dump > file",
            our_backup,
            raw_backup,
            1.5,
        ),
        ratio_line(
            "restore (checks, no safety backup) vs sqlite3 new.db < file",
            our_restore,
            raw_restore_s,
            1.5,
        ),
        ratio_line(
            "restore incl. pre_restore safety backup vs sqlite3 new.db < file",
            our_restore_total,
            raw_restore_s,
            None,
        ),
        f"  peak memory: backup {max(m['maxrss_mb'] for m in ours):.0f} MB, "
        f"restore {max(m['maxrss_mb'] for m in restores):.0f} MB (target < 100 MB)",
        *signup_lines,
    ]


BENCH_SIGNUPS = os.environ.get("BENCH_SIGNUPS", "1") != "0"
LATENCY_SIGNUPS = int(os.environ.get("BENCH_LATENCY_SIGNUPS", "2000"))
BURST_SIGNUPS = int(os.environ.get("BENCH_BURST_SIGNUPS", "1000"))
BURST_SECONDS = float(os.environ.get("BENCH_BURST_SECONDS", "10"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """gunicorn serving the bench database: 2 workers (one per core of this machine) unless
    told otherwise."""

    def __init__(self, env: dict, settings_module: str, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "waitlist_site.wsgi",
            ],
            env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/thanks/", timeout=2)  # noqa: S310 (our http URL)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_worker(env: dict, interval: float) -> subprocess.Popen:
    """`manage.py backup_worker` on the bench database; stop it with terminate() and wait()."""
    return subprocess.Popen(
        [PYTHON, "manage.py", "backup_worker", "--interval", f"{interval:g}"],
        env={**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def load(url: str, total: int, concurrency: int, seconds: float, prefix: str) -> dict:
    output = subprocess.run(
        [
            PYTHON,
            str(PROJECT / "bench" / "load.py"),
            url,
            str(total),
            str(concurrency),
            str(seconds),
            prefix,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(output)
    if result["errors"]:
        raise SystemExit(f"signup load got errors: {result['errors'][:5]}")
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_signups(label: str, env: dict) -> list[str]:
    """Signup latency with and without the automatic-backup trigger (same load, interleaved),
    then a burst with the worker running."""
    env = {**env, "SIGNUP_RATE_LIMIT": "0", "DJANGO_DEBUG": "1"}
    latencies = {"without": [], "with": []}
    for round_number in range(2):
        for name, module in (("without", "bench.settings_no_trigger"), ("with", "bench.settings")):
            site = Site(env, module)
            try:
                load(site.url, 100, 4, 0, f"warm-{name}-{round_number}-")
                result = load(site.url, LATENCY_SIGNUPS // 2, 4, 0, f"lat-{name}-{round_number}-")
                latencies[name] += result["latencies_ms"]
            finally:
                site.stop()
    p50 = {k: statistics.median(v) for k, v in latencies.items()}
    p99 = {k: percentile(v, 0.99) for k, v in latencies.items()}
    lines = [
        f"{label} signups: {LATENCY_SIGNUPS} per configuration, 4 concurrent clients, gunicorn x2",
        f"  latency p50 with trigger {p50['with']:.2f} ms / without {p50['without']:.2f} ms = "
        f"{p50['with'] / p50['without']:.2f}x (target <= 1.05)",
        f"  latency p99 with trigger {p99['with']:.2f} ms / without {p99['without']:.2f} ms = "
        f"{p99['with'] / p99['without']:.2f}x (target <= 1.05)",
    ]
    manage(env, "backup")  # the burst starts from a backed-up database
    site = Site(env, "bench.settings")
    worker = start_worker(env, 0.5)
    try:
        started = subprocess.run(
            [
                PYTHON,
                "-c",
                "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        result = load(site.url, BURST_SIGNUPS, 8, BURST_SECONDS, "burst-")
        deadline = time.monotonic() + 180
        while True:
            report = json.loads(
                subprocess.run(
                    [PYTHON, str(PROJECT / "bench" / "burst_report.py"), started],
                    env={**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
                    cwd=PROJECT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if report["pending"] == 0 and report["requests"] >= BURST_SIGNUPS:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        site.stop()
    lines.append(
        f"  burst: {BURST_SIGNUPS} signups in {result['wall']:.1f} s -> {report['backups']} backups "
        f"({report['covering_backups']} covering them, all checksum-verified: "
        f"{report['covering_all_verified']}); {report['pending']} left uncovered; commit-to-backup "
        f"worst {report['worst_delay_s']:.1f} s, median {report['median_delay_s']:.1f} s "
        f"(target: all within 60 s)"
    )
    return lines


BENCH_ENCRYPTED = os.environ.get("BENCH_ENCRYPTED", "1") != "0"
BENCH_OFFSITE = os.environ.get("BENCH_OFFSITE", "1") != "0"
#: "secure" runs only the encrypted and off-site figures (PostgreSQL), "journal" only the signup
#: journal's (bench/journal.py); unset, everything.
BENCH_ONLY = os.environ.get("BENCH_ONLY", "")
BENCH_JOURNAL = os.environ.get("BENCH_JOURNAL", "1") != "0"
BENCH_ERASURE = os.environ.get("BENCH_ERASURE", "1") != "0"
PG_SECURE_DB = "waitlist_bench_secure"
OFFSITE_BUCKET = "waitlist-bench-offsite"
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def manage_rss(env: dict, *args: str) -> dict:
    """`python manage.py ARGS` as a whole process (startup included): seconds, its stdout, and
    its peak memory and its children's (pg_dump, psql), through bench/rss.py."""
    with tempfile.NamedTemporaryFile(suffix=".json") as rss_file:
        clock = time.perf_counter()
        done = subprocess.run(
            [PYTHON, str(PROJECT / "bench" / "rss.py"), *args],
            env={**env, "BENCH_RSS_FILE": rss_file.name},
            cwd=PROJECT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - clock
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        result = json.loads(Path(rss_file.name).read_text())
    result.update(seconds=seconds, stdout=done.stdout)
    return result


def backup_name_from(output: str) -> str:
    match = re.search(r"Backed up \d+ signups to (\S+) \(", output)
    if match is None:
        raise SystemExit(f"no backup name in: {output!r}")
    return match.group(1)


def peak(runs: list[dict]) -> str:
    return (
        f"{max(m['maxrss_mb'] for m in runs):.0f} MB "
        f"(children {max(m['children_maxrss_mb'] for m in runs):.0f} MB)"
    )


def offsite_services() -> bool:
    """Whether the off-site services (upload pass, `listbackups --sync --offsite`, restore
    fetching what is gone) are in this tree; without them only the raw upload is measured."""
    services = PROJECT / "backups_app" / "services" / "offsite.py"
    listbackups = PROJECT / "backups_app" / "management" / "commands" / "listbackups.py"
    return (
        services.is_file()
        and "def backup_offsite_upload_pending" in services.read_text()
        and "def backup_offsite_sync" in services.read_text()
        and "--offsite" in listbackups.read_text()
    )


class MotoS3:
    """A real S3 API (moto's server) on loopback, for the off-site figures."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per S3 request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ.update(MOTO_CREDENTIALS)  # for boto3 here; the commands get them in env()
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1").create_bucket(
            Bucket=OFFSITE_BUCKET
        )

    def env(self) -> dict:
        return {
            **MOTO_CREDENTIALS,
            "BACKUP_OFFSITE_BUCKET": OFFSITE_BUCKET,
            "BACKUP_OFFSITE_ENDPOINT_URL": self.endpoint,
            "BACKUP_OFFSITE_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self.server.stop()


UPLOAD_PENDING = (
    "from backups_app.services.offsite import backup_offsite_upload_pending as up; "
    "r = up(); print(f'uploaded {len(r.uploaded)} failed {len(r.failed)}')"
)
UPLOAD_RAW = (
    "import os; from django.core.files import File; from django.core.files.storage import "
    "storages; from backups_app import conf; name = os.environ['BENCH_UPLOAD_NAME']; "
    "storages['backups_offsite'].save(name, File(open(conf.backup_dir() / name, 'rb')))"
)


def bench_secure(workdir: Path) -> list[str]:
    """Issue 11: encrypted backup and restore, and the off-site copy and disaster recovery,
    whole processes against pg_dump / psql measured here, on a BENCH_ROWS-signup database."""
    admin = admin_environment()
    key = output_of([PYTHON, "-m", "backups_app.encryption", "genkey"]).strip()
    with pg_scratch_database(PG_SECURE_DB) as url, contextlib.ExitStack() as cleanup:
        plain = environment(workdir, url)
        encrypted = {**plain, "BACKUP_ENCRYPTION_KEY": key}
        pg_filled(plain, url)
        raw_file = workdir / "raw.sql"
        raw_backup = median_of(lambda: pg_dump_timed(url, raw_file, env=admin))
        raw_restore_s = median_of(lambda: psql_restore_timed(url, raw_file, env=admin))
        lines = [
            f"PostgreSQL, {ROWS:,} signups, encrypted and off-site (whole `manage.py` processes, "
            f"median of {REPEAT}); pg_dump > file {raw_backup:.2f} s, "
            f"psql -1 < file {raw_restore_s:.2f} s, "
            f"dump {raw_file.stat().st_size / 1e6:.0f} MB"
        ]
        if BENCH_ENCRYPTED:
            plain_runs = [manage_rss(plain, "backup") for _ in range(REPEAT)]
            enc_runs = [manage_rss(encrypted, "backup") for _ in range(REPEAT)]
            enc_name = backup_name_from(enc_runs[-1]["stdout"])
            enc_size = (Path(encrypted["BACKUP_DIR"]) / enc_name).stat().st_size / 1e6
            plain_restores = [
                manage_rss(plain, "restore", backup_name_from(plain_runs[-1]["stdout"]), "--yes")
                for _ in range(REPEAT)
            ]
            enc_restores = [
                manage_rss(encrypted, "restore", enc_name, "--yes") for _ in range(REPEAT)
            ]
            med = {
                label: statistics.median(m["seconds"] for m in runs)
                for label, runs in (
                    ("plain", plain_runs),
                    ("enc", enc_runs),
                    ("plain_restore", plain_restores),
                    ("enc_restore", enc_restores),
                )
            }
            lines += [
                ratio_line(
                    "manage.py backup (plain) vs pg_dump > file", med["plain"], raw_backup, None
                ),
                ratio_line(
                    "backup, encrypted (manage.py backup) vs pg_dump > file",
                    med["enc"],
                    raw_backup,
                    None,
                ),
                f"    encrypted dump {enc_size:.0f} MB; encryption costs "
                f"{med['enc'] - med['plain']:+.2f} s over the plain manage.py backup",
                ratio_line(
                    "manage.py restore --yes (plain) vs psql -1 < file",
                    med["plain_restore"],
                    raw_restore_s,
                    None,
                ),
                ratio_line(
                    "restore, encrypted (manage.py restore) vs psql -1 < file",
                    med["enc_restore"],
                    raw_restore_s,
                    None,
                ),
                "    (restore --yes includes its pre_restore safety backup, encrypted when the "
                "key is set)",
                f"  peak memory: backup plain {peak(plain_runs)}, encrypted {peak(enc_runs)}; "
                f"restore plain {peak(plain_restores)}, encrypted {peak(enc_restores)}",
            ]
        if BENCH_OFFSITE:
            s3 = MotoS3()
            cleanup.callback(s3.stop)
            remote = {**encrypted, **s3.env()}
            lines += bench_offsite(remote, raw_backup, raw_restore_s)
        return lines


def bench_offsite(env: dict, raw_backup: float, raw_restore_s: float) -> list[str]:
    backup_dir = Path(env["BACKUP_DIR"])
    if not offsite_services():
        uploads, backups = [], []
        for _ in range(REPEAT):
            backups.append(manage_rss(env, "backup"))
            name = backup_name_from(backups[-1]["stdout"])
            uploads.append(
                manage_rss({**env, "BENCH_UPLOAD_NAME": name}, "shell", "-c", UPLOAD_RAW)
            )
        backup_s = statistics.median(m["seconds"] for m in backups)
        upload_s = statistics.median(m["seconds"] for m in uploads)
        return [
            "  off-site (moto S3 server on loopback), encrypted; the off-site services are not in "
            "this tree, so only the raw upload is measured:",
            ratio_line(
                "backup + upload (storages save) vs pg_dump > file",
                backup_s + upload_s,
                raw_backup,
                None,
            ),
            f"    parts: backup {backup_s:.2f} s, upload {upload_s:.2f} s; "
            f"upload peak memory {peak(uploads)}",
            "    restore from off-site: NOT MEASURED (no off-site services)",
        ]
    # Whatever is already waiting (the encrypted runs above) goes first, untimed.
    manage_rss(env, "shell", "-c", UPLOAD_PENDING)
    backups, uploads = [], []
    for _ in range(REPEAT):
        backups.append(manage_rss(env, "backup"))
        uploads.append(manage_rss(env, "shell", "-c", UPLOAD_PENDING))
        if "uploaded 1 failed 0" not in uploads[-1]["stdout"]:
            raise SystemExit(f"off-site upload pass: {uploads[-1]['stdout']!r}")
    name = backup_name_from(backups[-1]["stdout"])
    backup_s = statistics.median(m["seconds"] for m in backups)
    upload_s = statistics.median(m["seconds"] for m in uploads)
    syncs, restores, gone = [], [], []
    for _ in range(REPEAT):
        clock = time.perf_counter()
        shutil.rmtree(backup_dir)
        gone.append(time.perf_counter() - clock)
        syncs.append(manage_rss(env, "listbackups", "--sync", "--offsite"))
        restores.append(manage_rss(env, "restore", name, "--yes"))
    sync_s = statistics.median(m["seconds"] for m in syncs)
    restore_s = statistics.median(m["seconds"] for m in restores)
    rto = statistics.median(
        g + s["seconds"] + r["seconds"] for g, s, r in zip(gone, syncs, restores, strict=True)
    )
    return [
        "  off-site (moto S3 server on loopback), encrypted:",
        ratio_line(
            "backup + off-site upload pass vs pg_dump > file",
            backup_s + upload_s,
            raw_backup,
            None,
        ),
        f"    parts: backup {backup_s:.2f} s, upload pass {upload_s:.2f} s; "
        f"peak memory backup {peak(backups)}, upload {peak(uploads)}",
        ratio_line(
            "off-site restore, BACKUP_DIR gone (RTO) vs psql -1 < file",
            rto,
            raw_restore_s,
            None,
        ),
        f"    parts: listbackups --sync --offsite {sync_s:.2f} s, restore --yes (fetch + safety "
        f"backup + load) {restore_s:.2f} s; peak memory sync {peak(syncs)}, "
        f"restore {peak(restores)}",
    ]


def main() -> None:
    for tool in ("pg_dump", "psql", "sqlite3"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench needs {tool} on PATH")
    report = []
    with tempfile.TemporaryDirectory(prefix="waitlist-bench-") as folder:
        benches = [("postgresql", bench_postgresql), ("sqlite", bench_sqlite)]
        if BENCH_ONLY == "secure":
            benches = []
        if BENCH_ENCRYPTED or BENCH_OFFSITE:
            benches.append(("postgresql-secure", bench_secure))
        if BENCH_ONLY in ("journal", "erasure"):
            benches = []
        if BENCH_JOURNAL and BENCH_ONLY in ("", "journal"):
            sys.path.insert(0, str(PROJECT))
            from bench.journal import bench_journal

            benches.append(("postgresql-journal", bench_journal))
        if BENCH_ERASURE and BENCH_ONLY in ("", "erasure"):
            sys.path.insert(0, str(PROJECT))
            from bench.erasure import bench_erasure

            benches.append(("erasure", bench_erasure))
        for name, bench in benches:
            workdir = Path(folder) / name
            workdir.mkdir()
            print(f"bench: {name} …", flush=True)
            report += bench(workdir)
    print("\n".join(report))
    if BENCH_OFFSITE:
        print("(the bench process hosts the moto S3 server: its peak memory holds the uploads)")
    print(
        f"bench process peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
