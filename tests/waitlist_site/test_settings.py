"""Settings come from the environment (docs/spec.md §2); production refuses unsafe defaults."""

import json
import secrets

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.subprocesses import PROJECT_DIR, run_manage, run_python

PRINT_DATABASE = (
    "import json; from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'], default=str))"
)
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "waitlist.example.com",
    "BACKUP_SIGNING_KEY": secrets.token_urlsafe(32),
    "WAITLIST_ERASURE_KEY": secrets.token_urlsafe(32),
}


def test_default_database_is_sqlite_in_the_project_folder():
    result = run_python(PRINT_DATABASE, DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(PROJECT_DIR / "db.sqlite3")


def test_database_url_selects_postgresql():
    result = run_python(
        PRINT_DATABASE,
        DJANGO_DEBUG="1",
        DATABASE_URL="postgres://waitlist:s3cret@db.internal:6543/signups",
    )

    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "signups"
    assert database["HOST"] == "db.internal"
    assert int(database["PORT"]) == 6543
    assert database["USER"] == "waitlist"


def test_sqlite_file_database_runs_in_wal_mode(tmp_path):
    code = (
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])\n"
    )
    result = run_python(code, DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wal"


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DJANGO_DEBUG="0")

    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_development_starts_without_a_secret_key():
    result = run_manage("check", DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_asks_for_a_signing_key_of_its_own():
    without_key = {k: v for k, v in PRODUCTION.items() if k != "BACKUP_SIGNING_KEY"}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **without_key)

    assert result.returncode != 0
    assert "backups_app.W001" in result.stderr + result.stdout


def test_check_deploy_asks_for_an_erasure_key_of_its_own():
    without_key = {k: v for k, v in PRODUCTION.items() if k != "WAITLIST_ERASURE_KEY"}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **without_key)

    assert result.returncode != 0
    assert "waitlist.W001" in result.stderr + result.stdout


def test_a_short_erasure_key_is_reported_at_start_without_echoing_it():
    result = run_manage("check", **PRODUCTION | {"WAITLIST_ERASURE_KEY": "short-and-wrong"})

    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert "waitlist.E004" in output
    assert "short-and-wrong" not in output


def test_a_bad_backup_key_is_reported_at_start_without_echoing_it():
    result = run_manage(
        "check",
        **PRODUCTION | {"BACKUP_ENCRYPTION_KEY": "short-and-wrong", "BACKUP_SIGNING_KEY": "tiny"},
    )

    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert "backups_app.E002" in output and "backups_app.E003" in output
    assert "short-and-wrong" not in output and "tiny" not in output


def test_production_settings_harden_https_and_cookies():
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, s.ALLOWED_HOSTS)"
    )
    result = run_python(code, **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True True True True ['waitlist.example.com']"


def test_backup_settings_have_the_documented_defaults():
    code = (
        "from backups_app import conf; from waitlist import conf as w; "
        "print(conf.backup_dir(), conf.export_dir(), conf.retention(), conf.compression(), "
        "conf.debounce_seconds(), conf.max_delay_seconds(), conf.api_token(), conf.rpo_seconds(), "
        "w.signup_rate_limit())"
    )
    result = run_python(code, DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        str(PROJECT_DIR / "backups"),
        str(PROJECT_DIR / "exports"),
        "10",
        "none",
        "5.0",
        "60.0",
        "None",
        "300.0",
        "Rate(limit=100,",
        "period_seconds=60)",
    ]


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("SIGNUP_RATE_LIMIT", "lots", "waitlist.E001"),
        ("SIGNUP_RATE_LIMIT", "100/day", "waitlist.E001"),
        ("BACKUP_COMPRESSION", "zip", "backups_app.E011"),
        ("BACKUP_RETENTION", 0, "backups_app.E001"),
        ("BACKUP_RPO_SECONDS", -1, "backups_app.E014"),
        ("BACKUP_JOURNAL_FSYNC", "sometimes", "backups_app.E021"),
    ],
)
def test_system_check_reports_a_bad_setting(settings, setting, value, check_id):
    setattr(settings, setting, value)

    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")


def test_every_backup_setting_has_a_check_id_of_its_own():
    from backups_app.checks import SETTING_CHECKS

    ids = [check_id for _, check_id in SETTING_CHECKS]
    assert len(set(ids)) == len(ids)
    assert not {"E002", "E003", "E004"} & set(ids)  # the keys' and the lock timeout's
