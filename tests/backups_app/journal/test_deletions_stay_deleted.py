"""A signup deleted through the app never comes back through the journal ("deletions through
the app win", docs/signup-journal.md): not after pruning, not from a segment put back, not from
a segment cut short."""

import secrets
import shutil

import pytest
from django.db import connection

from backups_app.services import backup_create
from backups_app.services.journal import journal_close, journal_prune, journal_replay
from tests.backups_app.journal.conftest import SIGNING_KEY, segments
from tests.factories import SignupFactory
from tests.subprocesses import database_url, run_python
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def lose_every_signup() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")


def test_pruning_the_segment_with_the_deletion_while_the_put_segment_lives_on_resurrects(
    backup_dir, settings
):
    """Two gunicorn workers: worker A (this process, still running) journals the signup; the
    staff's delete is served by worker B, whose segment ends when B exits (max_requests, a
    restart). The next backup covers both segments; journal_prune() deletes B's finished one
    (the delete line) and keeps A's open one (the put line). Replay then brings the deleted
    signup back: prune must never drop a delete whose put is still kept (keep tombstones until
    every segment older than them is pruned, or carry them forward)."""
    settings.BACKUP_SIGNING_KEY = SIGNING_KEY
    erased = SignupFactory(email="erase-me@example.com")  # worker A's segment, still open
    kept = SignupFactory(email="keep-me@example.com")
    child = run_python(
        "from waitlist.models import Signup\n"
        f"Signup.objects.get(pk={erased.pk}).delete()\n",  # worker B, which then exits
        DATABASE_URL=database_url(),
        BACKUP_DIR=str(backup_dir),
        BACKUP_SIGNING_KEY=SIGNING_KEY,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="0",
    )
    assert child.returncode == 0, child.stderr
    assert len(segments(backup_dir)) == 2
    assert journal_replay(dry_run=True).deleted_in_journal == 1

    backup_create(kind="manual")  # taken after the deletion: it does not hold the signup
    # B's finished segment is covered, but its deletion is still needed: A journals the put.
    assert journal_prune() == []
    lose_every_signup()  # the accident; then `restore` of that backup, or replay_journal

    journal_replay()

    assert not Signup.objects.filter(email="erase-me@example.com").exists()
    assert Signup.objects.filter(pk=kept.pk).exists()


def test_a_pruned_segment_planted_back_does_not_bring_back_a_deleted_signup(backup_dir):
    """Whoever can write BACKUP_DIR (or kept an old off-site copy) puts back a segment that
    rotation pruned: every line still passes its MAC (same name, same numbers), so replay,
    which runs by itself after every restore, inserts a signup staff erased long ago. A segment
    older than the oldest kept backup and absent from its position was pruned: it must be
    refused."""
    erased = SignupFactory(email="erase-me@example.com")
    journal_close()
    [put_segment] = segments(backup_dir)
    saved = put_segment.with_name("saved-copy")
    shutil.copy(put_segment, saved)
    erased.delete()  # through the app: a delete line, in a second segment
    journal_close()
    backup_create(kind="manual")
    assert len(journal_prune()) == 2

    shutil.copy(saved, put_segment)  # planted back under its own name
    report = journal_replay()

    assert report.inserted == 0
    assert not Signup.objects.filter(email="erase-me@example.com").exists()


def test_a_segment_cut_at_a_line_boundary_is_named_not_silently_shorter(backup_dir):
    """A segment cut between two lines reads as a clean, shorter segment: no damage at all. The
    newest backup recorded the segment longer than it now is, so replay could tell; it does
    not, and the cut-off delete line makes replay bring the deleted signup back."""
    erased = SignupFactory(email="erase-me@example.com")
    erased.delete()
    journal_close()
    backup_create(kind="manual")
    [path] = segments(backup_dir)
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 4  # header, put, delete, ""
    path.write_bytes(b"\n".join(lines[:2]) + b"\n")  # the delete line is gone

    report = journal_replay()

    assert report.damage, "a segment shorter than a backup's recorded position was not named"
    assert not Signup.objects.filter(email="erase-me@example.com").exists()
