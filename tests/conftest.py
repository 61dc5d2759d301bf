"""Fixtures shared by the whole suite. Tests run against real SQLite or real PostgreSQL."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Collect static files once, as a production deploy does, so pages render with DEBUG off."""
    static_root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield static_root


@pytest.fixture(scope="session", autouse=True)
def postgresql_run_really_uses_postgresql():
    """In CI the PostgreSQL run must be on PostgreSQL: a silent fallback to SQLite would hide it."""
    expected = os.environ.get("EXPECT_DATABASE_VENDOR")
    if expected:
        assert connection.vendor == expected, (
            f"this run expects {expected} but DATABASE_URL gives {connection.vendor}"
        )


@pytest.fixture
def backup_dir(settings, tmp_path) -> Path:
    """An isolated BACKUP_DIR (and EXPORT_DIR), a short lock wait, and ADMINS to alert."""
    folder = tmp_path / "backups"
    settings.BACKUP_DIR = folder
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 5
    settings.BACKUP_COMPRESSION = "none"
    settings.ADMINS = [("Ops", "ops@example.com")]
    return folder


@pytest.fixture
def signup_data() -> dict[str, str]:
    """A complete, valid submission of the public form."""
    return {
        "full_name": "Ada Lovelace",
        "email": "Ada.Lovelace@Example.com",
        "phone": "+44 20 7946 0000",
        "city": "London",
        "country": "United Kingdom",
        "message": "Front row, please!",
        "consent": "on",
        "website": "",
    }


def pytest_collection_modifyitems(config, items):
    """Vendor-specific tests are deselected in the other run, so CI shows no skips."""
    engine = settings.DATABASES["default"]["ENGINE"]
    vendor = "postgresql" if "postgresql" in engine else "sqlite"
    other = {"postgresql": "sqlite_only", "sqlite": "postgresql_only"}[vendor]
    keep = [item for item in items if other not in item.keywords]
    deselected = [item for item in items if other in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


@pytest.fixture(autouse=True)
def backup_requests_written_only_when_flushed():
    """The request buffer's background thread would write into whichever test runs next; tests
    flush it explicitly instead (the worker pass does too)."""
    from backups_app.request_buffer import request_buffer

    request_buffer.background = False
    request_buffer._items.clear()
    yield
    request_buffer._items.clear()


@pytest.fixture(autouse=True)
def journal_in_test_folder(settings, tmp_path):
    """Every signup a test saves is journalled (§11): into the test's own BACKUP_DIR, the one
    the backup_dir fixture uses, and the segment closed after the test."""
    from backups_app.services.journal import journal_close

    settings.BACKUP_DIR = tmp_path / "backups"
    yield
    journal_close()
