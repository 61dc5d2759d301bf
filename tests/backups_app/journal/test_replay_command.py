"""`manage.py replay_journal` and what `manage.py restore` says about the journal (§11, §6.1)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def lose_every_signup() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_journal", *args, stdout=out)
    return out.getvalue()


def test_dry_run_then_replay_then_again(backup_dir):
    SignupFactory.create_batch(3)
    lose_every_signup()

    assert "already in the table, would insert 3" in run("--dry-run")
    assert Signup.objects.count() == 0
    assert "inserted 3" in run()
    assert Signup.objects.count() == 3
    assert "3 already in the table, inserted 0" in run()


def test_json_names_every_figure_and_the_damage(backup_dir):
    SignupFactory.create_batch(2)
    from backups_app.services.journal import journal_close

    journal_close()
    [segment] = (backup_dir / "journal").glob("segment-*.jsonl")
    segment.write_bytes(segment.read_bytes()[:-10])
    lose_every_signup()

    document = json.loads(run("--json"))

    assert document["ok"] is True
    assert (document["inserted"], document["journalled"], document["entries"]) == (1, 1, 1)
    [damage] = document["damage"]
    assert segment.name in damage and "incomplete last line" in damage


def test_since_a_backup_reads_only_what_came_after_it(backup_dir):
    SignupFactory.create_batch(2)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(3)

    document = json.loads(run("--since", backup.name, "--dry-run", "--json"))

    assert (document["entries"], document["since"]) == (3, backup.name)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--since", "backup-2020-01-01T00-00-00-000Z.sql"), "not in the catalogue|No backup"),
        (("--since", "../../etc/passwd"), "outside|not a backup|No backup"),
        (("--signing-key-file", "/nonexistent/key"), "Cannot read the signing key file"),
    ],
)
def test_bad_input_is_one_clear_error(backup_dir, args, message):
    SignupFactory()
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_another_installations_segment_replays_with_its_key_file(backup_dir, settings, tmp_path):
    settings.BACKUP_SIGNING_KEY = "o" * 40
    SignupFactory()
    from backups_app.services.journal import journal_close

    journal_close()
    settings.BACKUP_SIGNING_KEY = "n" * 40
    lose_every_signup()
    key_file = tmp_path / "old.key"
    key_file.write_text("o" * 40)

    assert "another installation" in run("--dry-run")
    assert "inserted 1" in run("--signing-key-file", str(key_file))


def test_restore_says_what_the_journal_put_back_and_no_replay_skips_it(backup_dir):
    SignupFactory.create_batch(2)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(2)
    lose_every_signup()

    out = io.StringIO()
    call_command("restore", backup.name, "--yes", "--no-replay", stdout=out)
    assert Signup.objects.count() == 2
    assert "Signup journal" not in out.getvalue()

    out = io.StringIO()
    call_command("restore", backup.name, "--yes", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["journal"]["inserted"] == 2
    assert Signup.objects.count() == 4

    out = io.StringIO()
    call_command("restore", backup.name, "--yes", stdout=out)
    assert "Signup journal: 4 journal entries in 1 segment(s)" in out.getvalue()
    assert "inserted 0" in out.getvalue()


def test_the_admin_restore_says_what_the_journal_put_back(admin_client, backup_dir):
    SignupFactory.create_batch(2)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(3)
    lose_every_signup()

    response = admin_client.post(
        f"/admin/backups_app/backup/{backup.pk}/restore/",
        {"operation": "restore", "confirm_name": backup.name},
        follow=True,
    )

    assert Signup.objects.count() == 5
    assert "Signup journal: 5 journal entries in 1 segment(s)" in response.content.decode()
    assert "inserted 3" in response.content.decode()
