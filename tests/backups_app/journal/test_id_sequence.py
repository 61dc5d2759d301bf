"""Replay moves PostgreSQL's id sequence forward only: an id is never given twice."""

import pytest
from django.db import connection

from backups_app.services.journal import journal_replay
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


def test_replay_never_moves_the_id_sequence_back_so_no_id_is_reused(backup_dir):
    """_reset_sequence() runs Django's sequence_reset_sql, setval(…, max(id)): it sets the
    sequence to the table's largest id, also when that is *lower* than the sequence (the newest
    signups were deleted through the app). The next fan then gets the id of a deleted signup:
    the journal, the backups and the restore's keep-by-id logic all key on that id, so the new
    fan and the erased one are taken for the same signup. The doc promises the sequence is
    moved *past* the replayed ids; it must never go back (GREATEST with its last_value)."""
    first, _second, newest = SignupFactory.create_batch(3)
    erased_id = newest.pk
    newest.delete()  # through the app (staff erased it)
    with connection.cursor() as cursor:  # an accident outside the app
        cursor.execute("DELETE FROM waitlist_responses WHERE id = %s", [first.pk])
    assert journal_replay().inserted == 1

    after = SignupFactory()

    assert after.pk > erased_id, f"id {after.pk} reused: it belonged to an erased signup"
    assert Signup.objects.count() == 3
