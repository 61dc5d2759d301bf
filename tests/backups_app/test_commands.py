"""The backup commands through call_command and as a real process (§6.1)."""

import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups_app.models import Backup
from tests.subprocesses import PROJECT_DIR
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def test_backup_command_prints_a_summary(signups, backup_dir):
    out = run("backup", "--note", "pre-show")

    backup = Backup.objects.get()
    assert f"Backed up 3 signups to {backup.name}" in out
    assert backup.note == "pre-show"
    assert backup.triggered_by.startswith("cli")


def test_backup_json_has_the_manifest(signups, backup_dir):
    document = run_json("backup", "--pin")

    assert document["ok"] is True
    assert document["backup"]["pinned"] is True
    assert document["manifest"]["row_counts"]["waitlist_responses"] == 3


def test_listbackups_shows_the_catalogue(signups, backup_dir):
    run("backup")

    out = run("listbackups")

    assert Backup.objects.get().name in out
    assert "manual" in out


def test_listbackups_sync_rebuilds_the_catalogue_from_disk(signups, backup_dir):
    run("backup")
    run("backup")
    Backup.objects.all().delete()

    document = run_json("listbackups", "--sync")

    assert len(document["backups"]) == 2
    assert len(document["sync"]["added"]) == 2


def test_listbackups_sync_marks_a_killed_backup_interrupted(signups, backup_dir, mailoutbox):
    Backup.objects.create(name="backup-2001-01-01T00-00-00-000Z.sql", kind="auto", vendor="x")

    run("listbackups", "--sync")

    assert Backup.objects.get().status == Backup.Status.FAILED
    assert "Interrupted" in Backup.objects.get().error
    assert [m.subject for m in mailoutbox] == [
        "[Django] Backup backup-2001-01-01T00-00-00-000Z.sql was interrupted"
    ]


def test_listbackups_sync_clears_up_after_killed_backups(signups, backup_dir):
    run("backup")
    lone_dump = backup_dir / "backup-2001-01-01T00-00-00-000Z.sql"
    lone_dump.write_text("-- renamed into place, then killed before its manifest")
    partial = backup_dir / ".partial-backup-2002-01-01T00-00-00-000Z.sql.abcdef"
    partial.write_text("COPY public.waitlist_responses ... ada@example.com")

    text = run("listbackups", "--sync")

    assert "Cleared up after killed operations: 2 files, 0 scratch" in text
    assert not lone_dump.exists()
    assert not partial.exists()
    partial.write_text("another")
    document = run_json("listbackups", "--sync")
    assert document["sync"]["leftovers"]["files"] == [partial.name]
    assert len(document["backups"]) == 1


def test_listbackups_sync_skips_an_unreadable_manifest(signups, backup_dir):
    run("backup")
    (backup_dir / "backup-2001-01-01T00-00-00-000Z.manifest.json").write_text("{not json")

    document = run_json("listbackups", "--sync")

    assert document["sync"]["unreadable"] == ["backup-2001-01-01T00-00-00-000Z.manifest.json"]
    assert len(document["backups"]) == 1


def test_verifybackup_latest_with_restore_test(signups, backup_dir):
    run("backup")

    document = run_json("verifybackup", "--latest", "--restore-test")

    assert document["results"][0]["ok"] is True
    assert document["results"][0]["restore_seconds"] > 0


def test_verifybackup_fails_non_zero_for_a_damaged_backup(signups, backup_dir):
    run("backup")
    backup = Backup.objects.get()
    (backup_dir / backup.name).write_text("nonsense")

    with pytest.raises(CommandError, match="1 of 1 backups failed verification"):
        run("verifybackup", backup.name)


def test_verifybackup_all(signups, backup_dir):
    run("backup")
    run("backup")

    out = run("verifybackup", "--all")

    assert out.count("OK ") == 2


@pytest.mark.parametrize("args", [[], ["--latest", "--all"]])
def test_verifybackup_needs_exactly_one_choice(signups, backup_dir, args):
    with pytest.raises(CommandError, match="Name one backup"):
        run("verifybackup", *args)


def test_verifybackup_unknown_name_is_a_clear_error(signups, backup_dir):
    with pytest.raises(CommandError, match="No backup named"):
        run("verifybackup", "backup-2001-01-01T00-00-00-000Z.sql")


def test_verifybackup_of_a_failed_backup_verifies_nothing_and_says_so(
    signups, backup_dir, mailoutbox
):
    run("backup")
    backup = Backup.objects.get()
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.FAILED)

    with pytest.raises(CommandError, match="There is no successful backup to verify"):
        run("verifybackup", backup.name)

    backup.refresh_from_db()
    assert backup.verified_at is None
    assert mailoutbox == []


def test_verifybackup_all_without_a_successful_backup_is_a_clear_error(signups, backup_dir):
    with pytest.raises(CommandError, match="There is no successful backup to verify"):
        run("verifybackup", "--all")


def test_restore_with_yes_restores(signups, backup_dir):
    run("backup")
    name = Backup.objects.get().name
    Signup.objects.all().delete()

    out = run("restore", name, "--yes")

    assert f"Restored {name}" in out
    assert Signup.objects.count() == 3


def test_restore_without_yes_and_without_a_terminal_refuses(signups, backup_dir):
    run("backup")
    name = Backup.objects.get().name
    Signup.objects.all().delete()

    with pytest.raises(CommandError, match="no terminal"):
        run("restore", name)

    assert Signup.objects.count() == 0


def test_restore_diff_and_merge(signups, backup_dir):
    run("backup")
    name = Backup.objects.get().name
    Signup.objects.filter(email="ada@example.com").delete()

    diff = run_json("restore", name, "--diff")
    merged = run_json("restore", name, "--merge", "--yes")

    assert diff["missing"] == 1
    assert merged["inserted"] == 1
    assert Signup.objects.filter(email="ada@example.com").exists()


def test_restore_outside_the_folder_is_a_json_error(signups, backup_dir):
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError, match="outside the backup folder"):
        call_command("restore", "/etc/passwd", "--yes", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {
        "ok": False,
        "error": f"'/etc/passwd' is outside the backup folder {backup_dir.resolve()}; refused.",
    }


def test_rotatebackups_dry_run_and_real(signups, backup_dir):
    for _ in range(3):
        run("backup")

    dry = run_json("rotatebackups", "--keep", "1", "--dry-run")
    real = run("rotatebackups", "--keep", "1")

    assert len(dry["deleted"]) == 2
    assert "Deleted 2 backup(s)" in real
    assert Backup.objects.count() == 1


def test_commands_exit_non_zero_with_one_line_on_stderr(tmp_path):
    """As an operator runs them: a real process, a clear line, a non-zero exit."""
    from tests.subprocesses import child_environment

    environment = child_environment(
        DJANGO_DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        BACKUP_DIR=str(tmp_path / "backups"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=PROJECT_DIR,
        env=environment,
        check=True,
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "restore", "../etc/passwd", "--yes"],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("CommandError: ")
    assert "outside the backup folder" in result.stderr
