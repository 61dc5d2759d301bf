"""Helpers to run the project in a child process with an environment of our choosing."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Variables a developer's shell may have set that would leak into the child's settings.
PROJECT_VARIABLES = (
    "DATABASE_URL",
    "CACHE_URL",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_COOKIES",
    "STATIC_ROOT",
    "SIGNUP_RATE_LIMIT",
    "BACKUP_DIR",
    "EXPORT_DIR",
    "BACKUP_SIGNING_KEY",
    "BACKUP_SIGNING_OLD_KEYS",
    "BACKUP_ENCRYPTION_KEY",
    "BACKUP_ENCRYPTION_OLD_KEYS",
    "BACKUP_OFFSITE_BUCKET",
    "BACKUP_JOURNAL",
    "BACKUP_JOURNAL_FSYNC",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DJANGO_ENV_FILE",
)


def child_environment(**overrides: str) -> dict[str, str]:
    """The current environment without our settings variables, plus `overrides`."""
    environment = {k: v for k, v in os.environ.items() if k not in PROJECT_VARIABLES}
    environment["DJANGO_SETTINGS_MODULE"] = "waitlist_site.settings"
    # Never the developer's .env (make run writes one): the child sees only what a test sets.
    environment["DJANGO_ENV_FILE"] = os.devnull
    environment.update(overrides)
    return environment


def in_project(*args: str, **overrides: str) -> dict:
    """Keyword arguments for subprocess.run and Popen: the command `args` run by this
    interpreter in the project folder, with child_environment(**overrides)."""
    return {
        "args": [sys.executable, *args],
        "cwd": PROJECT_DIR,
        "env": child_environment(**overrides),
    }


def run_python(code: str, **overrides: str) -> subprocess.CompletedProcess:
    """Run `code` with Django set up, in a fresh interpreter."""
    prelude = "import django; django.setup()\n"
    return subprocess.run(
        **in_project("-c", prelude + code, **overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_manage(*args: str, **overrides: str) -> subprocess.CompletedProcess:
    """Run `manage.py` with `args`, in a fresh interpreter."""
    return subprocess.run(
        **in_project("manage.py", *args, **overrides), capture_output=True, text=True, timeout=300
    )


def database_url() -> str:
    """The test database as a DATABASE_URL, for a child process (which, like pg_dump, sees
    only committed rows)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "postgresql":
        host, port = s["HOST"] or "localhost", s["PORT"] or 5432
        return f"postgresql://{s['USER']}@{host}:{port}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def start_manage(
    *args: str, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=False, **overrides: str
) -> subprocess.Popen:
    """Start `manage.py` with `args` in its own process group, so that once it is killed, the
    programs it started (pg_dump, psql, sqlite3) can be waited for."""
    return subprocess.Popen(
        **in_project("manage.py", *args, **overrides),
        stdout=stdout,
        stderr=stderr,
        text=text,
        start_new_session=True,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(*, port: int, workers: int, **overrides: str) -> subprocess.Popen:
    """Start gunicorn serving the site on 127.0.0.1:`port` with `workers` workers; its stderr
    is piped, to say why it did not start."""
    return subprocess.Popen(
        **in_project(
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "waitlist_site.wsgi",
            **overrides,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until_serving(
    server: subprocess.Popen, *, port: int, path: str = "", seconds: float = 30
) -> None:
    """Wait until gunicorn on `port` takes connections (with `path`, answers that page);
    fail with its stderr when it exits or is not there within `seconds`. Refused, reset and
    timed-out attempts (a server still booting on a loaded machine) are all tried again."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if path:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:  # URLError, ConnectionError and TimeoutError are all OSErrors
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"gunicorn did not start: {server.stderr.read().decode()}")
            time.sleep(0.1)


def kill_9(process: subprocess.Popen, *, seconds: float = 60) -> None:
    """SIGKILL the process alone, as the OOM killer or a lost SSH session does; then wait
    (bounded) until the programs it started have ended by themselves, for they keep going."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"the children of killed process {process.pid} did not end by themselves")
