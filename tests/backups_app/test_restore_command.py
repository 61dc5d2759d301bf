"""`manage.py restore`: later signups kept by default, `--exact` confirmed by the number it
removes on a real terminal, `--include-accounts` (docs/spec.md §4.5, §6.1)."""

import io
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore_preview
from tests.factories import SignupFactory
from tests.subprocesses import PROJECT_DIR, child_environment, database_url
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def on_a_terminal(backup_dir, *args: str, answer: str) -> tuple[int, str]:
    """Run `manage.py restore …` with a pseudo-terminal as its stdin/stdout; answer its
    confirmation question with `answer`."""
    environment = child_environment(
        DATABASE_URL=database_url(),
        BACKUP_DIR=str(backup_dir),
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],  # the tests' own (pyproject)
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "restore", *args],
        cwd=PROJECT_DIR,
        env=environment,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output, answered = b"", False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    break
                output += chunk
                if not answered and b"to confirm" in output:
                    os.write(controller, answer.encode() + b"\n")
                    answered = True
            elif process.poll() is not None:
                break
        returncode = process.wait(timeout=60)
    finally:
        os.close(controller)
    return returncode, output.decode(errors="replace")


def test_full_restore_keeps_later_signups_and_says_so(signups, backup_dir, django_user_model):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    django_user_model.objects.create_superuser("boss", "b@example.com", "a-long-pass-123")
    Signup.objects.filter(email="ada@example.com").delete()
    SignupFactory(email="later@example.com")
    out = io.StringIO()

    call_command("restore", backup.name, "--yes", "--json", stdout=out)

    document = json.loads(out.getvalue())
    assert document["signups_kept"] == 1
    assert document["accounts_kept"] is True
    assert django_user_model.objects.filter(username="boss").exists()
    assert set(Signup.objects.values_list("email", flat=True)) == {
        "ada@example.com",
        "zoe@example.com",
        "grace@example.com",
        "later@example.com",
    }


def test_exact_restore_asks_for_the_number_it_removes(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later-1@example.com")
    SignupFactory(email="later-2@example.com")

    code, output = on_a_terminal(backup_dir, backup.name, "--exact", answer=backup.name)
    assert code != 0
    assert "2 live signup(s) the backup lacks will be REMOVED" in output
    assert "Not confirmed; nothing was changed." in output
    assert Signup.objects.count() == 5

    code, output = on_a_terminal(backup_dir, backup.name, "--exact", answer="2")
    assert code == 0, output
    assert "2 signup(s) the backup lacked were removed (--exact)" in output
    assert Signup.objects.count() == 3


def test_full_restore_on_a_terminal_says_what_it_keeps(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later@example.com")

    code, output = on_a_terminal(backup_dir, backup.name, answer=backup.name)

    assert code == 0, output
    assert "1 live signup(s) the backup lacks will be kept" in output
    assert "Staff accounts, sessions, the catalogue and the ledgers stay" in output
    assert Signup.objects.count() == 4


def test_the_prompt_shows_what_the_preview_service_returns(signups, backup_dir, add_newer_table):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    SignupFactory(email="later@example.com")
    add_newer_table()

    preview = backup_restore_preview(name=backup.name)
    code, output = on_a_terminal(backup_dir, backup.name, "--exact", answer="no")

    assert (preview.created_at, preview.tables_newer) == (
        backup.manifest["created_at"],
        {"vip_notes": 1},
    )
    assert (preview.backup_signups, preview.live_signups, preview.brought_back) == (3, 3, 1)
    assert preview.later == 1
    assert f"Backup {backup.name} (taken {preview.created_at})." in output
    assert "The backup holds 3 signup(s); the live table has 3." in output
    assert "- 1 signup(s) in the backup and missing now will come back" in output
    assert "- 1 live signup(s) the backup lacks will be REMOVED (--exact)." in output
    assert (
        "- Tables newer than the backup will be DROPPED (their rows stay in the safety "
        "backup): vip_notes (1 rows)."
    ) in output
    assert "Type the number of signups to remove to confirm (1): " in output
    assert code != 0
    assert Signup.objects.count() == 3


def test_include_accounts_goes_only_with_a_full_restore(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    with pytest.raises(CommandError, match="--include-accounts goes with a full restore"):
        call_command("restore", backup.name, "--merge", "--include-accounts", "--yes")


def test_exact_and_merge_cannot_be_combined(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    with pytest.raises(CommandError):
        call_command("restore", backup.name, "--merge", "--exact", "--yes")
    assert Signup.objects.count() == 3
