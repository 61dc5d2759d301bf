"""Helpers to run the project in a child process with an environment of our choosing."""

import os
import subprocess
import sys
from pathlib import Path

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
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def child_environment(**overrides: str) -> dict[str, str]:
    """The current environment without our settings variables, plus `overrides`."""
    environment = {k: v for k, v in os.environ.items() if k not in PROJECT_VARIABLES}
    environment["DJANGO_SETTINGS_MODULE"] = "waitlist_site.settings"
    environment.update(overrides)
    return environment


def run_python(code: str, **overrides: str) -> subprocess.CompletedProcess:
    """Run `code` with Django set up, in a fresh interpreter."""
    prelude = "import django; django.setup()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=PROJECT_DIR,
        env=child_environment(**overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_manage(*args: str, **overrides: str) -> subprocess.CompletedProcess:
    """Run `manage.py` with `args`, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=child_environment(**overrides),
        capture_output=True,
        text=True,
        timeout=300,
    )
