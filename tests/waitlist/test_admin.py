"""Signups in Django admin, through admin_client."""

import datetime

import pytest
from django.utils import timezone

from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/waitlist/signup/"


def test_changelist_lists_signups_for_staff(admin_client):
    SignupFactory(full_name="Ada Lovelace", email="ada@example.com", country="UK")

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Ada Lovelace" in html
    assert "ada@example.com" in html


@pytest.mark.parametrize("query", ["lovelace", "ADA@EXAMPLE"])
def test_search_finds_by_name_or_email(admin_client, query):
    SignupFactory(full_name="Ada Lovelace", email="ada@example.com")
    SignupFactory(full_name="Grace Hopper", email="grace@example.com")

    response = admin_client.get(CHANGELIST, {"q": query})

    names = [signup.full_name for signup in response.context["cl"].result_list]
    assert names == ["Ada Lovelace"]


def test_filter_by_country(admin_client):
    SignupFactory(full_name="In India", country="India")
    SignupFactory(full_name="In Chile", country="Chile")

    response = admin_client.get(CHANGELIST, {"country": "India"})

    assert [s.full_name for s in response.context["cl"].result_list] == ["In India"]


def test_date_drill_down_by_year(admin_client):
    SignupFactory(
        full_name="Old fan", created_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    )
    SignupFactory(full_name="New fan", created_at=timezone.now())

    response = admin_client.get(CHANGELIST, {"created_at__year": "2024"})

    assert response.status_code == 200
    assert [s.full_name for s in response.context["cl"].result_list] == ["Old fan"]


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_user_cannot_see_signups(client, django_user_model):
    user = django_user_model.objects.create_user("fan", password="a-long-password-123")
    client.force_login(user)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
