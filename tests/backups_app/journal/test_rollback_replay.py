"""rollback_schema_change replays the signup journal after its restore (§11)."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app.models import SchemaChange
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rollback_brings_back_a_signup_lost_after_the_change(lab, signups):
    lab.migration(
        "0002_signup_extra",
        'migrations.RunSQL("ALTER TABLE waitlist_responses ADD COLUMN extra varchar(10) '
        "NOT NULL DEFAULT ''\"),",
    )
    try:
        call_command("migrate", "migration_lab", verbosity=0, stdout=io.StringIO())
        change = SchemaChange.objects.latest("id")
        assert change.backup_name  # a change to a table with rows: backed up first
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
    finally:
        with connection.cursor() as cursor:
            columns = {
                c.name
                for c in connection.introspection.get_table_description(
                    cursor, "waitlist_responses"
                )
            }
            if "extra" in columns:
                cursor.execute("ALTER TABLE waitlist_responses DROP COLUMN extra")
