"""Replay's figures with emails in another case, and a journal folder planted as a symlink."""

import pytest
from django.db import connection

from backups_app import journal
from backups_app.services.journal import journal_replay
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_email_on_the_list_in_another_case_counts_as_taken_not_as_missing(backup_dir):
    """_compare_with_table() looks emails up with email__in (case-sensitive), while the table's
    uniqueness is Lower(email): a row whose email was upper-cased outside the app is not seen,
    so --dry-run promises to insert a signup that the real run then silently drops in
    bulk_create(ignore_conflicts=True): 'would insert 1', then 'inserted 0', email_taken 0.
    (merge.py does it right, with Lower.)"""
    original = SignupFactory(email="fan@example.com")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")
        cursor.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "
            "consent, created_at) SELECT full_name, 'FAN@EXAMPLE.COM', phone, city, country, "
            "message, consent, created_at FROM (SELECT %s AS full_name, %s AS phone, %s AS city, "
            "%s AS country, %s AS message, %s AS consent, %s AS created_at) AS row_values",
            ["Fan again", "", "", "", "", True, original.created_at],
        )

    dry = journal_replay(dry_run=True)
    real = journal_replay()

    assert (dry.missing, dry.email_taken) == (0, 1)
    assert (real.inserted, real.email_taken) == (0, 1)
    assert Signup.objects.count() == 1


def test_a_journal_folder_planted_as_a_symlink_is_not_followed(backup_dir, tmp_path):
    """_open_writer() calls ensure_dir() (mkdir exist_ok) and writes into whatever
    BACKUP_DIR/journal resolves to: whoever can write BACKUP_DIR replaces the folder by a
    symlink to a place of theirs (world-readable) and from then on receives every fan's name,
    email and phone in clear (without BACKUP_ENCRYPTION_KEY). An existing folder's mode is not
    checked either."""
    elsewhere = tmp_path / "attacker-readable"
    elsewhere.mkdir(mode=0o777)
    backup_dir.mkdir(mode=0o700)
    (backup_dir / "journal").symlink_to(elsewhere, target_is_directory=True)

    SignupFactory(email="private-fan@example.com")

    leaked = [name for name in journal.segment_names(elsewhere)]
    assert leaked == [], "the journal was written through a planted symlink"
