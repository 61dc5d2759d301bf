"""The signup journal (§11): what a signup writes, replay, damage, keys, pruning."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from backups_app.services import backup_create
from backups_app.services.journal import (
    JournalError,
    journal_close,
    journal_prune,
    journal_replay,
    journal_status,
)
from tests.backups_app.conftest import signup_rows
from tests.backups_app.journal.conftest import delete_behind_the_apps_back, entries, segments
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_signup_over_http_is_journalled_with_every_field(client, backup_dir, signup_data):
    response = client.post(reverse("waitlist:signup"), signup_data)
    assert response.status_code == 302
    signup = Signup.objects.get()
    [entry] = entries(backup_dir)
    assert entry.op == "put"
    assert entry.signup_id == signup.pk
    assert entry.row == {
        "id": signup.pk,
        "full_name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "phone": "+44 20 7946 0000",
        "city": "London",
        "country": "United Kingdom",
        "message": "Front row, please!",
        "consent": True,
        "created_at": signup.created_at.isoformat(),
    }


def test_a_repeat_signup_and_a_bot_write_nothing_more(client, backup_dir, signup_data):
    client.post(reverse("waitlist:signup"), signup_data)
    client.post(reverse("waitlist:signup"), signup_data)
    client.post(reverse("waitlist:signup"), {**signup_data, "website": "spam.example"})
    assert len(entries(backup_dir)) == 1


def test_a_rolled_back_signup_is_not_journalled(backup_dir):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        SignupFactory()
        raise RuntimeError("rolled back")
    assert entries(backup_dir) == []


def test_replay_brings_back_deleted_rows_with_their_ids_and_values(backup_dir):
    made = SignupFactory.create_batch(5)
    before = signup_rows()
    delete_behind_the_apps_back(made[1].pk, made[3].pk)

    report = journal_replay()

    assert (report.journalled, report.already_present, report.inserted) == (5, 3, 2)
    assert report.damage == []
    assert signup_rows() == before
    # The table's id sequence moved past the replayed ids: the next signup gets a new one.
    newest = SignupFactory()
    assert newest.pk > max(s.pk for s in made)


def test_replay_twice_adds_nothing(backup_dir):
    SignupFactory.create_batch(3)
    delete_behind_the_apps_back()
    assert journal_replay().inserted == 3
    again = journal_replay()
    assert (again.inserted, again.already_present, again.missing) == (0, 3, 0)
    assert Signup.objects.count() == 3


def test_dry_run_inserts_nothing(backup_dir):
    SignupFactory.create_batch(2)
    delete_behind_the_apps_back()
    report = journal_replay(dry_run=True)
    assert (report.missing, report.inserted) == (2, 0)
    assert Signup.objects.count() == 0
    assert "would insert 2" in report.summary()


def test_changes_and_deletions_through_the_app_are_replayed_as_they_ended(backup_dir):
    kept, deleted = SignupFactory.create_batch(2)
    kept.city = "Lagos"
    kept.save()
    deleted.delete()
    delete_behind_the_apps_back()

    report = journal_replay()

    assert report.deleted_in_journal == 1
    assert list(Signup.objects.values_list("id", "city")) == [(kept.pk, "Lagos")]


def test_an_email_back_on_the_list_under_another_id_is_not_duplicated(backup_dir):
    original = SignupFactory(email="fan@example.com")
    delete_behind_the_apps_back()
    again = SignupFactory(email="FAN@example.com")

    report = journal_replay()

    assert (report.email_taken, report.inserted) == (1, 0)
    assert list(Signup.objects.values_list("id", flat=True)) == [again.pk]
    assert again.pk != original.pk


def test_rows_changed_outside_the_app_are_counted_not_overwritten(backup_dir):
    signup = SignupFactory(email="real@example.com")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE waitlist_responses SET email = 'x@example.com'")
    report = journal_replay()
    assert (report.changed_outside, report.inserted) == (1, 0)
    assert Signup.objects.get(pk=signup.pk).email == "x@example.com"


def test_a_truncated_last_line_is_named_and_the_rest_replays(backup_dir):
    SignupFactory.create_batch(3)
    journal_close()
    [path] = segments(backup_dir)
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # the last entry's write stopped midway
    delete_behind_the_apps_back()

    report = journal_replay()

    assert report.inserted == 2
    [damage] = report.damage
    assert damage.line == 3
    assert "incomplete last line" in str(damage)
    assert path.name in str(damage)


def test_a_corrupted_line_is_named_and_the_others_replay(backup_dir):
    SignupFactory.create_batch(3)
    journal_close()
    [path] = segments(backup_dir)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"example.com", b"evil.example")
    path.write_bytes(b"\n".join(lines))
    delete_behind_the_apps_back()

    report = journal_replay()

    assert report.inserted == 2
    [damage] = report.damage
    assert (damage.line, "fails its check") == (2, "fails its check")
    assert "fails its check" in str(damage)
    assert not Signup.objects.filter(email__contains="evil").exists()


def test_a_segment_from_another_installation_is_refused_until_its_key_is_given(
    backup_dir, settings
):
    settings.BACKUP_SIGNING_KEY = "o" * 40
    SignupFactory.create_batch(2)
    journal_close()
    settings.BACKUP_SIGNING_KEY = "n" * 40
    delete_behind_the_apps_back()

    report = journal_replay()
    assert report.inserted == 0
    [damage] = report.damage
    assert "another installation" in str(damage)
    assert "--signing-key-file" in str(damage)

    assert journal_replay(extra_keys=(b"o" * 40,)).inserted == 2


def test_a_segment_with_a_forged_header_is_refused(backup_dir):
    SignupFactory()
    journal_close()
    [path] = segments(backup_dir)
    mac, _, body = path.read_bytes().partition(b" ")
    header = json.loads(body.split(b"\n")[0])
    header["host"] = "elsewhere"
    forged = mac + b" " + json.dumps(header).encode() + b"\n" + body.split(b"\n", 1)[1]
    path.write_bytes(forged)
    delete_behind_the_apps_back()
    report = journal_replay()
    assert report.inserted == 0
    assert "header fails its check" in str(report.damage[0])


def test_encrypted_entries_hold_no_personal_data_in_clear_and_replay(backup_dir, settings):
    from backups_app.encryption import generate_key

    settings.BACKUP_ENCRYPTION_KEY = generate_key()
    SignupFactory(email="secret-fan@example.com", full_name="Secret Fan")
    journal_close()
    [path] = segments(backup_dir)
    assert b"secret-fan" not in path.read_bytes()
    assert b"Secret Fan" not in path.read_bytes()
    delete_behind_the_apps_back()
    assert journal_replay().inserted == 1
    assert Signup.objects.get().email == "secret-fan@example.com"

    settings.BACKUP_ENCRYPTION_KEY = generate_key()  # the old key is gone
    delete_behind_the_apps_back()
    report = journal_replay()
    assert report.inserted == 0
    assert "BACKUP_ENCRYPTION_OLD_KEYS" in str(report.damage[0])


def test_each_backup_records_the_position_it_covers_and_since_reads_past_it(backup_dir):
    SignupFactory.create_batch(2)
    backup = backup_create(kind="manual")
    position = backup.manifest["journal"]["segments"]
    [path] = segments(backup_dir)
    assert position == {path.name: path.stat().st_size}
    SignupFactory.create_batch(3)

    report = journal_replay(since=backup, dry_run=True)

    assert report.entries == 3
    assert journal_status().unbacked_entries == 3


def test_since_a_backup_from_before_the_journal_is_refused(backup_dir):
    backup = backup_create(kind="manual")
    manifest = dict(backup.manifest)
    manifest.pop("journal")
    backup.manifest = manifest
    with pytest.raises(JournalError, match="before the signup journal existed"):
        journal_replay(since=backup)


def test_pruning_keeps_what_the_oldest_backup_does_not_cover_and_the_segment_being_written(
    backup_dir,
):
    SignupFactory.create_batch(2)
    journal_close()
    [old] = segments(backup_dir)
    SignupFactory()  # a new segment, held open by this process
    backup_create(kind="manual")
    assert journal_prune() == [old.name]
    assert [path.name for path in segments(backup_dir)] != [old.name]
    assert len(segments(backup_dir)) == 1
    assert journal_prune() == []  # the open one is covered but still being written


def test_nothing_is_pruned_while_the_oldest_backup_predates_the_journal(backup_dir):
    SignupFactory()
    journal_close()
    first = backup_create(kind="manual")
    manifest = dict(first.manifest)
    manifest.pop("journal")
    type(first).objects.filter(pk=first.pk).update(manifest=manifest)
    backup_create(kind="manual")
    assert journal_prune() == []


def test_status_counts_what_no_backup_holds_yet(backup_dir):
    assert journal_status().segments == 0
    SignupFactory.create_batch(4)
    status = journal_status()
    assert (status.segments, status.unbacked_entries) == (1, 4)
    assert status.size_bytes > 0 and status.newest_entry_at is not None
    backup_create(kind="manual")
    assert journal_status().unbacked_entries == 0


def test_the_journal_is_private_like_the_backups(backup_dir):
    import stat

    SignupFactory()
    [path] = segments(backup_dir)
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_journal_that_cannot_be_written_does_not_undo_the_signup(backup_dir, caplog):
    backup_dir.mkdir(mode=0o700, exist_ok=True)
    (backup_dir / "journal").write_text("a file where the journal folder should be")

    signup = SignupFactory()

    assert Signup.objects.filter(pk=signup.pk).exists()
    assert "signup journal: entry for signup" in caplog.text


def test_a_forked_child_journals_into_its_own_segment_and_the_parents_stays_whole(backup_dir):
    import os

    SignupFactory(email="parent-1@example.com")
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked after the parent journalled
        try:  # (no database here: the parent's connection is not the child's to use)
            from backups_app.services.journal import journal_record_signup

            journal_record_signup(signup_id=10**9, row={"id": 10**9, "email": "child@example.com"})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    SignupFactory(email="parent-2@example.com")

    found = {(entry.segment, entry.row["email"]) for entry in entries(backup_dir)}
    segments_by_email = {email: segment for segment, email in found}
    assert set(segments_by_email) == {
        "parent-1@example.com",
        "child@example.com",
        "parent-2@example.com",
    }
    assert segments_by_email["parent-1@example.com"] == segments_by_email["parent-2@example.com"]
    assert segments_by_email["child@example.com"] != segments_by_email["parent-1@example.com"]
