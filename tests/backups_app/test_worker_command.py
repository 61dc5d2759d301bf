"""`manage.py backup_worker` as operators run it: a real process, real signups, SIGTERM."""

import signal
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import SignupFactory
from tests.subprocesses import PROJECT_DIR, child_environment, run_manage
from tests.waiting import wait_until


@pytest.mark.django_db(transaction=True)
def test_once_prints_what_it_did(backup_dir, settings):
    settings.BACKUP_DEBOUNCE_SECONDS = 0
    SignupFactory()
    out = StringIO()

    call_command("backup_worker", "--once", stdout=out)

    assert out.getvalue().startswith("backed-up: 1 pending; backup-")


@pytest.mark.django_db(transaction=True)
def test_once_says_what_it_cleared_up(backup_dir):
    backup_dir.mkdir(parents=True)
    (backup_dir / ".partial-backup-2001-01-01T00-00-00-000Z.sql.abcdef").write_text("half")
    out = StringIO()

    call_command("backup_worker", "--once", stdout=out)

    assert "cleared up 0 interrupted backups, 1 files" in out.getvalue()
    assert not list(backup_dir.glob(".partial-*"))


def test_worker_backs_up_new_signups_and_stops_cleanly_on_sigterm(tmp_path):
    environment = {
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "BACKUP_DIR": str(tmp_path / "backups"),
        "BACKUP_DEBOUNCE_SECONDS": "0.5",
    }
    assert run_manage("migrate", "-v0", **environment).returncode == 0
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "backup_worker", "--interval", "0.2"],
        cwd=PROJECT_DIR,
        env=child_environment(**environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        signup = run_manage(
            "shell",
            "-c",
            "from waitlist.services import signup_create; "
            "signup_create(full_name='Fan', email='fan@example.com', consent=True)",
            **environment,
        )
        assert signup.returncode == 0, signup.stderr
        wait_until(
            lambda: [
                p
                for p in (tmp_path / "backups").glob("backup-*.sql")
                if "fan@example.com" in p.read_text()
            ],
            what="a backup that holds the new signup",
            seconds=20,
            poll=0.2,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 0
    assert "backup worker stopped" in stderr
    assert "backup worker action=backed-up" in stderr
