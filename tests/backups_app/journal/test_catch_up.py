"""journal_catch_up (§11): a committed signup whose entry was lost — the tail a power cut took
before its flush, a journal folder unwritable for a while — is journalled again from the
table by the worker, so replay still brings it back."""

import datetime

import pytest
from django.utils import timezone

from backups_app.services import auto, backup_create, backup_worker_pass
from backups_app.services.journal import journal_catch_up, journal_close, journal_replay
from tests.backups_app.conftest import signup_rows
from tests.backups_app.journal.conftest import delete_behind_the_apps_back, entries, segments
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def later(seconds=60):
    return timezone.now() + datetime.timedelta(seconds=seconds)


def cut_last_entries(path, count):
    """What a power cut leaves when the last `count` lines never reached the disk."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-count]))


def test_entries_a_power_cut_took_are_journalled_again_and_replay_recovers_them(backup_dir):
    SignupFactory.create_batch(4)
    journal_close()
    [path] = segments(backup_dir)
    cut_last_entries(path, 2)
    before = signup_rows()

    assert journal_catch_up(now=later()) == 2
    assert journal_catch_up(now=later()) == 0  # whole again: nothing more

    delete_behind_the_apps_back()
    report = journal_replay()
    assert (report.inserted, report.damage) == (4, [])
    assert signup_rows() == before
    assert journal_replay().inserted == 0


def test_signups_made_while_the_journal_was_off_are_journalled_but_not_backed_up_ones(
    backup_dir, settings
):
    settings.BACKUP_JOURNAL = False
    backed_up = SignupFactory.create_batch(2)
    backup_create(kind="manual")
    unjournalled = SignupFactory.create_batch(3)
    settings.BACKUP_JOURNAL = True

    assert journal_catch_up(now=later()) == 3

    journalled = {entry.signup_id for entry in entries(backup_dir)}
    assert journalled == {signup.pk for signup in unjournalled}
    assert not journalled & {signup.pk for signup in backed_up}


def test_a_signup_whose_entry_may_still_be_on_its_way_is_left_alone(backup_dir, settings):
    settings.BACKUP_JOURNAL = False
    SignupFactory()
    settings.BACKUP_JOURNAL = True

    assert journal_catch_up(now=timezone.now()) == 0
    assert journal_catch_up(now=later()) == 1


def test_the_worker_catches_the_journal_up(backup_dir, settings, monkeypatch):
    settings.BACKUP_JOURNAL = False
    signup = SignupFactory(created_at=later(-120))
    settings.BACKUP_JOURNAL = True
    monkeypatch.setattr(auto, "_journal_caught_up_at", None)

    backup_worker_pass(now=later(-1))  # backs the signup up too; the catch-up ran first

    assert signup.pk in {entry.signup_id for entry in entries(backup_dir)}
