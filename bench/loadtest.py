"""`make loadtest`: signups under load, a full restore in the middle, and every one accounted for.

For each database (SQLite, then PostgreSQL) it migrates a fresh database of its own, starts
gunicorn and `manage.py backup_worker` on it, and sends real signups (the public form, with its
CSRF token, each a new email) from a second process for LOADTEST_SECONDS. Early on it takes a
manual backup, and a little later restores it in full while the signups keep coming: a full
restore keeps every live signup the backup lacks, including those committed while it runs
(docs/spec.md §4.5). When the load stops, the worker takes its last backup, everything is stopped,
and each accepted signup (HTTP 302) is looked for in the table and in the backups on disk.

Prints, per database: signups accepted, errors by status, throughput, latency p50/p99, backups
taken, the worst commit-to-backup time, the restore's duration, `lost` (accepted, yet missing
from the table) and `missing from newest backup`. Exits 1 when any signup was lost or is missing
from the newest backup, or when the restore failed (then nothing was proved about restores).

Environment: LOADTEST_DATABASES (default "sqlite,postgresql"), LOADTEST_SECONDS (30),
LOADTEST_CLIENTS (6 concurrent fans), LOADTEST_WORKERS (3 gunicorn workers),
LOADTEST_POSTGRES_URL (a maintenance database on the server to use, default
postgres://postgres@127.0.0.1:5432/postgres; the test creates and drops its own databases
`waitlist_loadtest` and `waitlist_loadtest_scratch` there).

`python bench/loadtest.py load URL SECONDS CLIENTS PREFIX OUTPUT` is the load itself, which the
test runs as a separate process.
"""

import collections
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASES = ("sqlite", "postgresql")
SECONDS = float(os.environ.get("LOADTEST_SECONDS", "30"))
CLIENTS = int(os.environ.get("LOADTEST_CLIENTS", "6"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", "3"))
POSTGRES_URL = os.environ.get(
    "LOADTEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
PG_DATABASE = "waitlist_loadtest"
PG_SCRATCH_DATABASE = "waitlist_loadtest_scratch"
DEBOUNCE_SECONDS = 1
MAX_DELAY_SECONDS = 10
# When, as a fraction of the load's duration, the manual backup and then its restore start:
# the signups between the two are the ones the backup lacks and the restore must keep.
BACKUP_AT = 0.2
RESTORE_AT = 0.4
# How long the worker gets, after the load, to take the backup that covers the last signup.
DRAIN_SECONDS = 45
REQUEST_TIMEOUT_SECONDS = 60
EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception)\b.*$", re.MULTILINE)


# --- the load (a process of its own) ----------------------------------------------------------


class SignupClient:
    """One fan's browser: loads the form once for its CSRF cookie and token, then posts it."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
        self.connection.request("GET", "/")
        response = self.connection.getresponse()
        page = response.read().decode()
        if response.status != 200:
            raise http.client.HTTPException(f"GET / answered {response.status}")
        self.cookie = response.getheader("Set-Cookie", "").split(";")[0]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not match:
            raise http.client.HTTPException("GET / has no CSRF token")
        self.token = match.group(1)

    def sign_up(self, email: str) -> int:
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": self.token,
                "full_name": "Load Test Fan",
                "email": email,
                "city": "Chennai",
                "consent": "on",
            }
        )
        self.connection.request(
            "POST",
            "/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie},
        )
        response = self.connection.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.connection.close()


def fan(host: str, port: int, number: int, prefix: str, until: float, records: list) -> None:
    """Sign up new emails one after another until `until`; record every attempt."""
    client = None
    sequence = 0
    while time.time() < until:
        if client is None:
            try:
                client = SignupClient(host, port)
            except (OSError, http.client.HTTPException) as err:
                records.append({"email": None, "status": 0, "error": f"form: {err}"[:200]})
                time.sleep(0.1)
                continue
        email = f"{prefix}{number}-{sequence}@example.com"
        sequence += 1
        sent, clock = time.time(), time.perf_counter()
        error = None
        try:
            status = client.sign_up(email)
        except (OSError, http.client.HTTPException) as err:
            status, error = 0, f"{type(err).__name__}: {err}"[:200]
            client.close()
            client = None
        records.append(
            {
                "email": email,
                "status": status,
                "error": error,
                "sent": sent,
                "received": time.time(),
                "ms": (time.perf_counter() - clock) * 1000,
            }
        )
    if client is not None:
        client.close()


def load(url: str, seconds: float, clients: int, prefix: str, output: Path) -> None:
    parts = urllib.parse.urlsplit(url)
    records: list[dict] = []
    started = time.time()
    fans = [
        threading.Thread(
            target=fan, args=(parts.hostname, parts.port, n, prefix, started + seconds, records)
        )
        for n in range(clients)
    ]
    for thread in fans:
        thread.start()
    for thread in fans:
        thread.join()
    output.write_text(json.dumps({"started": started, "records": records}))


# --- processes we start, and stop whatever happens ----------------------------------------------


class Processes:
    """Every child runs in a session of its own, so Ctrl-C reaches only us and we stop them in
    order (load, restore, worker, site) instead of all at once."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, argv: list[str], *, env: dict, log: Path | None = None) -> subprocess.Popen:
        out = log.open("ab") if log else subprocess.DEVNULL
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            start_new_session=True,
        )
        if log:
            out.close()
        self.running.append(process)
        return process

    def run(self, argv: list[str], *, env: dict, timeout: float) -> subprocess.CompletedProcess:
        """Run to the end and return its output (stopped, and reported as failed, on timeout)."""
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.running.append(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(process)
            stdout, stderr = process.communicate()
            stderr += f"\n(stopped after {timeout:.0f} s)"
        self.running.remove(process)
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def stop(self, process: subprocess.Popen, timeout: float = 60) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Still alive, so the group is still ours: take its children with it.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)


def manage(processes: Processes, env: dict, *args: str, timeout: float = 120) -> dict:
    """A management command's `--json` answer; SystemExit with its error when it failed."""
    done = processes.run([PYTHON, "manage.py", *args], env=env, timeout=timeout)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {last_line(done.stderr)}")
    return json.loads(done.stdout) if "--json" in args else {}


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# --- one database -------------------------------------------------------------------------------


@dataclass
class Run:
    vendor: str
    workdir: Path
    env: dict
    processes: Processes
    prefix: str = field(default_factory=lambda: f"loadtest-{secrets.token_hex(4)}-")
    timeline: dict[str, float] = field(default_factory=dict)
    manual_backup: str = ""
    restore: dict = field(default_factory=dict)
    drained: str = ""
    records: list[dict] = field(default_factory=list)
    holdings: dict = field(default_factory=dict)
    site_log: str = ""
    worker_log: str = ""

    def helper(self, *args: str) -> dict:
        done = self.processes.run(
            [PYTHON, str(PROJECT / "bench" / "loadtest_report.py"), *args],
            env=self.env,
            timeout=300,
        )
        if done.returncode:
            raise SystemExit(f"loadtest_report.py {args[0]} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)


def site_environment(workdir: Path, database_url: str, static_root: Path) -> dict:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    # Nothing of an operator's site settings may leak in (a real BACKUP_DIR, say).
    for name in list(keep):
        if name.startswith(("DJANGO_", "BACKUP_", "SIGNUP_", "EXPORT_", "DATABASE_", "SQLITE_")):
            del keep[name]
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "waitlist_site.settings",
        # Production settings (DEBUG off) over plain HTTP on loopback.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": f"loadtest-only-{secrets.token_urlsafe(32)}",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_ADMINS": "",
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": database_url,
        "BACKUP_DIR": str(workdir / "backups"),
        "EXPORT_DIR": str(workdir / "exports"),
        "BACKUP_COMPRESSION": "none",
        "BACKUP_DEBOUNCE_SECONDS": str(DEBOUNCE_SECONDS),
        "BACKUP_MAX_DELAY_SECONDS": str(MAX_DELAY_SECONDS),
        # Rotation must not delete a backup before the report has read it.
        "BACKUP_RETENTION": "1000",
        # All the load comes from one address, as from a venue's wifi.
        "SIGNUP_RATE_LIMIT": "0",
        "LOADTEST_SCRATCH_DATABASE": PG_SCRATCH_DATABASE,
        "LOADTEST_SCRATCH_DIR": str(workdir),
        "LOG_LEVEL": "INFO",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_site(url: str, site: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=2)
            connection.request("GET", "/thanks/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        if site.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def newest_backup_start(backup_dir: Path) -> float:
    """When the newest backup on disk began (0 when there is none), from its manifest."""
    from datetime import datetime

    starts = [
        datetime.fromisoformat(json.loads(path.read_text())["created_at"]).timestamp()
        for path in backup_dir.glob("backup-*.manifest.json")
    ]
    return max(starts, default=0.0)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def run_load(run: Run, seconds: float, clients: int, workers: int) -> None:
    manage(run.processes, run.env, "migrate", "--noinput", "-v0", timeout=300)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    site_log = run.workdir / "gunicorn.log"
    site = run.processes.start(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "20",
            "waitlist_site.wsgi",
        ],
        env=run.env,
        log=site_log,
    )
    worker = run.processes.start(
        [PYTHON, "manage.py", "backup_worker", "--interval", "0.5"],
        env=run.env,
        log=run.workdir / "worker.log",
    )
    wait_for_site(url, site, site_log)

    output = run.workdir / "load.json"
    started = time.time()
    loader = run.processes.start(
        [PYTHON, __file__, "load", url, str(seconds), str(clients), run.prefix, str(output)],
        env=run.env,
        log=run.workdir / "load.log",
    )
    print(f"  load started: {clients} fans for {seconds:.0f} s", flush=True)
    sleep_until(started + BACKUP_AT * seconds)
    run.timeline["backup_started"] = time.time()
    backup = manage(run.processes, run.env, "backup", "--json", "--note", "loadtest")
    run.manual_backup = backup["backup"]["name"]
    run.timeline["backup_finished"] = time.time()
    print(f"  manual backup {run.manual_backup}", flush=True)

    sleep_until(started + RESTORE_AT * seconds)
    run.timeline["restore_started"] = time.time()
    done = run.processes.run(
        [PYTHON, "manage.py", "restore", run.manual_backup, "--yes", "--json"],
        env=run.env,
        timeout=max(120.0, seconds * 2),
    )
    run.timeline["restore_finished"] = time.time()
    answer = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    run.restore = {
        "exit": done.returncode,
        "seconds": run.timeline["restore_finished"] - run.timeline["restore_started"],
        "service_seconds": answer.get("seconds"),
        "error": "" if done.returncode == 0 else last_line(done.stderr),
    }
    print(
        f"  restore of it: exit {done.returncode} after {run.restore['seconds']:.2f} s", flush=True
    )

    try:
        loader.wait(timeout=seconds + REQUEST_TIMEOUT_SECONDS + 30)
    except subprocess.TimeoutExpired:
        raise SystemExit("the load did not finish in time") from None
    run.processes.stop(loader)
    if not output.is_file():
        log = (run.workdir / "load.log").read_text()[-2000:]
        raise SystemExit(f"the load failed:\n{log}")
    result = json.loads(output.read_text())
    run.records = result["records"]
    run.timeline["load_started"] = result["started"]
    drain(run)
    # The worker finishes its pass (a backup in progress completes) before it exits.
    run.processes.stop(worker)
    run.processes.stop(site)
    run.holdings = run.helper("holdings", run.prefix)
    run.site_log = site_log.read_text(errors="replace")
    run.worker_log = (run.workdir / "worker.log").read_text(errors="replace")


def drain(run: Run) -> None:
    """Wait (bounded) until a backup that began after the last accepted signup is on disk and
    the worker's queue is empty."""
    accepted = [r["received"] for r in run.records if r["status"] == 302]
    last_accepted = max(accepted, default=0.0)
    clock = time.monotonic()
    while time.monotonic() - clock < DRAIN_SECONDS:
        if newest_backup_start(Path(run.env["BACKUP_DIR"])) > last_accepted:
            state = run.helper("queue")
            if state["empty"]:
                run.drained = f"yes, {time.monotonic() - clock:.1f} s after the load"
                return
        time.sleep(1)
    state = run.helper("queue")
    run.drained = (
        f"NO: after {DRAIN_SECONDS} s, {state['pending']} requests pending, "
        f"{state['unbacked_signups']} signups newer than every backup"
    )


# --- the figures --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def figures(run: Run) -> tuple[list[str], list[str]]:
    """The report lines, and what failed: signups lost, missing from the newest backup, or a
    restore that did not run (then the run proved nothing about restores)."""
    signups = [r for r in run.records if r["email"] is not None]
    accepted = [r for r in signups if r["status"] == 302]
    form_failures = [r for r in run.records if r["email"] is None]
    live = run.holdings["live"]
    backups = run.holdings["backups"]
    t = run.timeline
    load_seconds = (
        max((r["received"] for r in signups), default=t["load_started"]) - t["load_started"]
    )

    errors = collections.Counter(
        "no response" if r["status"] == 0 else str(r["status"])
        for r in signups
        if r["status"] != 302
    )
    error_text = ", ".join(f"{status} x{n}" for status, n in sorted(errors.items())) or "none"
    latencies = [r["ms"] for r in signups]

    during = [
        r
        for r in signups
        if r["sent"] < t["restore_finished"] and r["received"] > t["restore_started"]
    ]
    restore = run.restore
    restore_line = (
        f"  restore of it at {t['restore_started'] - t['load_started']:.1f} s: "
        f"{restore['seconds']:.2f} s (manage.py restore, safety backup included; "
        f"the restore step itself {restore['service_seconds'] or 0:.2f} s)"
        if restore["exit"] == 0
        else f"  restore of it FAILED (exit {restore['exit']}): {restore['error']}"
    )
    during_errors = sum(1 for r in during if r["status"] != 302)
    during_line = (
        f"    signups in flight during it: {len(during)}, errors {during_errors}, "
        f"worst latency {max((r['ms'] for r in during), default=0):.0f} ms"
    )

    lost = [r for r in accepted if r["email"] not in live]
    phases = collections.Counter(phase_of(r, t) for r in lost)
    lost_text = f"lost: {len(lost)}"
    if lost:
        lost_text += " (accepted " + ", ".join(f"{phase}: {n}" for phase, n in phases.items()) + ")"

    good = [b for b in backups if not b["error"]]
    newest = good[-1] if good else None
    missing = [r for r in accepted if newest is None or r["email"] not in newest["signups"]]

    delays = []
    never = 0
    for record in accepted:
        email = record["email"]
        first = next((b for b in good if email in b["signups"]), None)
        if first is None:
            never += 1
            continue
        created = live.get(email) or first["signups"][email]
        delays.append(first["finished_at"] - created)
    during_run = [b for b in backups if b["started_at"] >= t["load_started"]]
    kinds = collections.Counter(b["kind"] for b in during_run)
    kind_text = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))

    lines = [
        f"  signups accepted (302): {len(accepted)}; errors by status: {error_text}"
        + (f"; form not loaded x{len(form_failures)}" if form_failures else ""),
        f"  throughput: {len(accepted) / load_seconds if load_seconds else 0:.1f} signups/s; "
        f"latency p50 {statistics.median(latencies) if latencies else 0:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) if latencies else 0:.1f} ms",
        f"  manual backup at {t['backup_started'] - t['load_started']:.1f} s: {run.manual_backup}",
        restore_line,
        during_line,
        f"  backups taken during the run: {len(during_run)} ({kind_text})"
        + "".join(f"\n    UNREADABLE {b['name']}: {b['error']}" for b in backups if b["error"]),
        "  worst commit-to-backup: "
        + (
            f"{max(delays):.1f} s (median {statistics.median(delays):.1f} s)"
            if delays
            else "no accepted signup is in any backup"
        )
        + (f"; accepted signups in no backup at all: {never}" if never else ""),
        f"  worker's last backup: {run.drained}",
        f"  {lost_text}",
        f"  missing from newest backup: {len(missing)}"
        + (f" ({newest['name']}, {newest['kind']})" if newest else " (no backup)"),
    ]
    for who, log in (("site", run.site_log), ("worker", run.worker_log)):
        if problems := logged_errors(log):
            lines.append(f"  errors the {who} logged: " + "; ".join(problems))
    failures = [
        text
        for text, failed in (
            (f"{len(lost)} lost", lost),
            (f"{len(missing)} missing from the newest backup", missing),
            ("the restore failed", restore["exit"] != 0),
        )
        if failed
    ]
    return lines, failures


def phase_of(record: dict, timeline: dict) -> str:
    """When, relative to the manual backup and its restore, a signup was accepted."""
    received = record["received"]
    if received < timeline["backup_started"]:
        return "before the manual backup"
    if received < timeline["restore_started"]:
        return "between the backup and the restore"
    if received < timeline["restore_finished"]:
        return "during the restore"
    return "after the restore"


def logged_errors(log: str, limit: int = 3) -> list[str]:
    """The first few distinct exception lines in a log (gunicorn's or the worker's)."""
    seen: list[str] = []
    for line in EXCEPTION_LINE.findall(log):
        line = line.strip()[:200]
        if line not in seen:
            seen.append(line)
    return seen[:limit]


# --- the databases ------------------------------------------------------------------------------


def psql_admin(statement: str) -> None:
    subprocess.run(
        ["psql", POSTGRES_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement],
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
            "PGOPTIONS": "-c client_min_messages=warning",  # no NOTICE for IF EXISTS
        },
        stdout=subprocess.DEVNULL,
    )


def drop_postgresql_databases() -> None:
    for name in (PG_DATABASE, PG_SCRATCH_DATABASE):
        psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_database(vendor: str, folder: Path, static_root: Path, args) -> tuple[list[str], list[str]]:
    workdir = folder / vendor
    workdir.mkdir()
    if vendor == "postgresql":
        drop_postgresql_databases()
        psql_admin(f'CREATE DATABASE "{PG_DATABASE}"')
        database_url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{PG_DATABASE}"
    else:
        database_url = f"sqlite:///{workdir / 'loadtest.sqlite3'}"
    processes = Processes()
    run = Run(
        vendor=vendor,
        workdir=workdir,
        env=site_environment(workdir, database_url, static_root),
        processes=processes,
    )
    try:
        run_load(run, args.seconds, args.clients, args.workers)
    finally:
        # Ctrl-C again must not cut the clean-up short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            processes.stop_all()
            if vendor == "postgresql":
                drop_postgresql_databases()
        finally:
            signal.signal(signal.SIGINT, previous)
    return figures(run)


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    if sys.argv[1:2] == ["load"]:
        url, seconds, clients, prefix, output = sys.argv[2:7]
        load(url, float(seconds), int(clients), prefix, Path(output))
        return
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--databases",
        default=os.environ.get("LOADTEST_DATABASES", ",".join(DATABASES)),
        help="sqlite, postgresql or both, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    vendors = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = sorted(set(vendors) - set(DATABASES))
    if unknown or not vendors:
        raise SystemExit(f"LOADTEST_DATABASES: choose from {', '.join(DATABASES)}, not {unknown}")
    needed = ["sqlite3"] + (["psql", "pg_dump"] if "postgresql" in vendors else [])
    for tool in needed:
        if shutil.which(tool) is None:
            raise SystemExit(f"loadtest needs {tool} on PATH")
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    failed = []
    with tempfile.TemporaryDirectory(prefix="waitlist-loadtest-") as folder:
        static_root = Path(folder) / "static"
        subprocess.run(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
            env=site_environment(Path(folder), "sqlite://:memory:", static_root),
            cwd=PROJECT,
            check=True,
        )
        for vendor in vendors:
            print(f"loadtest: {vendor} …", flush=True)
            clock = time.monotonic()
            lines, failures = run_database(vendor, Path(folder), static_root, args)
            print(
                f"{vendor}: {args.seconds:.0f} s of signups from {args.clients} fans, gunicorn x"
                f"{args.workers}, backup_worker (debounce {DEBOUNCE_SECONDS} s, max delay "
                f"{MAX_DELAY_SECONDS} s); whole run {time.monotonic() - clock:.0f} s",
                *lines,
                sep="\n",
                flush=True,
            )
            if failures:
                failed.append(f"{vendor} ({', '.join(failures)})")
    if failed:
        print(f"loadtest FAILED: {'; '.join(failed)}")
        sys.exit(1)
    print("loadtest passed: every accepted signup is in the table and in the newest backup")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Every process, database and folder it started is gone by now (see run_database).
        sys.exit("loadtest interrupted; everything it started has been stopped and removed")
