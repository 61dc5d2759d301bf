"""The signup model and its table, on the real database."""

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import SignupFactory
from waitlist.models import Signup
from waitlist.services import signup_create

pytestmark = pytest.mark.django_db


def test_model_keeps_the_original_table_name():
    assert Signup._meta.db_table == "waitlist_responses"
    assert "waitlist_responses" in connection.introspection.table_names()


def test_email_is_stored_normalised():
    signup = SignupFactory(email="  Fan@Example.COM ")

    signup.refresh_from_db()
    assert signup.email == "fan@example.com"


def test_database_refuses_a_second_row_for_the_same_email_in_another_case():
    SignupFactory(email="fan@example.com")

    # Bypass save() normalisation: the unique index on lower(email) must still hold.
    with pytest.raises(IntegrityError), transaction.atomic():
        Signup.objects.bulk_create([Signup(full_name="Dup", email="FAN@example.com", consent=True)])


def test_signup_create_reports_new_and_duplicate():
    first, created = signup_create(full_name="Fan", email="fan@example.com", consent=True)
    again, created_again = signup_create(full_name="Other", email="FAN@example.com", consent=True)

    assert created is True
    assert created_again is False
    assert again.pk == first.pk
    assert Signup.objects.count() == 1


def test_every_text_field_has_a_length_bound():
    for field in Signup._meta.get_fields():
        if field.get_internal_type() in {"CharField", "TextField", "EmailField"}:
            assert field.max_length, f"{field.name} has no length bound"
