"""rollback_schema_change replays the signup journal after its restore (§11)."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app.models import SchemaChange
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rollback_brings_back_a_signup_lost_after_the_change(signup_extra_column, signups):
    change = signup_extra_column
    late = SignupFactory(email="late@example.com")
    with connection.cursor() as cursor:  # lost outside the app after the change
        cursor.execute("DELETE FROM waitlist_responses WHERE id = %s", [late.pk])

    call_command("rollback_schema_change", str(change.pk), yes=True, stdout=io.StringIO())

    assert set(Signup.objects.values_list("email", flat=True)) == {
        *(s.email for s in signups),
        late.email,
    }
    detail = SchemaChange.objects.get(pk=change.pk).rollback_detail
    assert "signup journal:" in detail and "inserted 1" in detail
