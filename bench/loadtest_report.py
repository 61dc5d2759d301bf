"""What the database and the backups hold after `make loadtest` (run with Django configured).

Usage: python bench/loadtest_report.py queue
       python bench/loadtest_report.py holdings EMAIL_PREFIX

`queue` prints the automatic-backup queue as the worker sees it. `holdings` prints, for the
signups whose email starts with EMAIL_PREFIX, the ones in the live table and the ones in each
backup on disk (every manifest in BACKUP_DIR, with its times). A backup's signups are read by
loading its dump with the raw tools (`sqlite3 scratch.db < dump`, `psql scratch < dump`) into a
scratch database and querying it: the question is what an operator gets back from the file, so
the answer must not depend on our own restore code. Manifest signup ids are no help here: a full
restore puts the dump's id sequence back too, so after one an id can name another signup.
"""

import datetime
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIGNUP_TABLE = "waitlist_responses"


def epoch(value: datetime.datetime | str | None) -> float | None:
    """Seconds since the epoch; naive times (SQLite stores UTC without an offset) are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.timestamp()


def queue() -> dict:
    from backups_app.selectors import queue_state

    state = queue_state()
    return {
        "empty": state.empty,
        "pending": state.pending,
        "unbacked_signups": state.unbacked_signups,
    }


def live_signups(prefix: str) -> dict[str, float]:
    from waitlist.models import Signup

    rows = Signup.objects.filter(email__startswith=prefix).values_list("email", "created_at")
    return {email: epoch(created_at) for email, created_at in rows.iterator()}


def manifests() -> list[dict]:
    from backups_app import conf, files

    found = []
    for path in files.manifest_paths():
        manifest = json.loads(path.read_text(encoding="utf-8"))
        dump = conf.backup_dir() / manifest["name"]
        if dump.is_file():
            found.append({**manifest, "path": dump})
    return sorted(found, key=lambda m: m["finished_at"])


def scratch_dir() -> str | None:
    """Scratch files go in the load test's own folder, which it removes even if we are killed."""
    return os.environ.get("LOADTEST_SCRATCH_DIR")


@contextmanager
def dump_sql(path: Path) -> Iterator[Path]:
    """The dump as a plain SQL file (a `.sql.gz` is decompressed into a temporary file)."""
    if not path.name.endswith(".gz"):
        yield path
        return
    with (
        tempfile.NamedTemporaryFile(suffix=".sql", dir=scratch_dir()) as plain,
        gzip.open(path, "rb") as packed,
    ):
        while chunk := packed.read(1 << 20):
            plain.write(chunk)
        plain.flush()
        yield Path(plain.name)


def sqlite_backup_signups(dump: Path, prefix: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="scratch-", dir=scratch_dir()) as folder:
        scratch = Path(folder) / "scratch.sqlite3"
        with dump_sql(dump) as sql, sql.open("rb") as stdin:
            loaded = subprocess.run(
                ["sqlite3", "-bail", str(scratch)], stdin=stdin, capture_output=True
            )
        if loaded.returncode:
            raise RuntimeError(f"sqlite3 could not load {dump.name}: {loaded.stderr.decode()}")
        connection = sqlite3.connect(scratch)
        try:
            rows = connection.execute(
                f"SELECT email, created_at FROM {SIGNUP_TABLE} WHERE email LIKE ? || '%'",
                [prefix],
            ).fetchall()
        finally:
            connection.close()
    return {email: epoch(created_at) for email, created_at in rows}


def postgresql_backup_signups(dump: Path, prefix: str) -> dict[str, float]:
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    scratch = os.environ["LOADTEST_SCRATCH_DATABASE"]
    server = {
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "host": settings.get("HOST") or None,
        "port": str(settings["PORT"]) if settings.get("PORT") else None,
    }
    server = {key: value for key, value in server.items() if value}
    psql_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if "password" in server:
        psql_env["PGPASSWORD"] = server["password"]
    target = ["-d", scratch]
    for flag, key in (("-h", "host"), ("-p", "port"), ("-U", "user")):
        if key in server:
            target += [flag, server[key]]

    def administer(statement: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(statement)

    administer(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    administer(f'CREATE DATABASE "{scratch}"')
    try:
        with dump_sql(dump) as sql, sql.open("rb") as stdin:
            loaded = subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", *target],
                stdin=stdin,
                capture_output=True,
                env=psql_env,
            )
        if loaded.returncode:
            raise RuntimeError(f"psql could not load {dump.name}: {loaded.stderr.decode()}")
        with psycopg.connect(dbname=scratch, **server) as reader:
            rows = reader.execute(
                f"SELECT email, created_at FROM {SIGNUP_TABLE} WHERE email LIKE %s || '%%'",
                [prefix],
            ).fetchall()
    finally:
        administer(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return {email: epoch(created_at) for email, created_at in rows}


def holdings(prefix: str) -> dict:
    from django.db import connection

    read = postgresql_backup_signups if connection.vendor == "postgresql" else sqlite_backup_signups
    backups = []
    for manifest in manifests():
        entry = {
            "name": manifest["name"],
            "kind": manifest.get("kind"),
            "started_at": epoch(manifest.get("created_at")),
            "finished_at": epoch(manifest.get("finished_at")),
            "signups": {},
            "error": None,
        }
        try:
            entry["signups"] = read(manifest["path"], prefix)
        except RuntimeError as err:
            entry["error"] = str(err)[-500:]
        backups.append(entry)
    return {"live": live_signups(prefix), "backups": backups}


def main() -> None:
    import django

    django.setup()
    if sys.argv[1:2] == ["queue"]:
        print(json.dumps(queue()))
    elif sys.argv[1:2] == ["holdings"] and len(sys.argv) == 3:
        print(json.dumps(holdings(sys.argv[2])))
    else:
        raise SystemExit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main()
