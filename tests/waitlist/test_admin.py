"""Signups in Django admin, through admin_client."""

import datetime
import re

import pytest
from django.utils import timezone

from tests.assertions import assert_contains_all
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
    assert "<h1>Signups</h1>" in html
    assert "Select signup to change" not in html


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


def test_list_has_short_headers_and_puts_the_signup_time_before_the_place(admin_client):
    SignupFactory()

    html = admin_client.get(CHANGELIST).content.decode()
    thead = html.split("<thead>")[1].split("</thead>")[0]
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', thead)

    assert headers == ["full_name", "email_address", "signed_up", "consent_given", "place"]
    assert ">Signed up</a>" in thead and ">Consent</a>" in thead
    assert "consent to be contacted" not in thead.lower()


def test_list_cells_are_short_and_escaped(admin_client):
    SignupFactory(
        email='"<b>ada</b>"@example.com',
        city="Lyon",
        country="France",
        consent=False,
        created_at=datetime.datetime(2025, 12, 24, 23, 59, tzinfo=datetime.UTC),
    )
    SignupFactory(city="", country="", consent=True)

    html = admin_client.get(CHANGELIST).content.decode()

    assert_contains_all(
        html,
        [
            "24\xa0Dec\xa02025\xa023:59",
            "&quot;&lt;b&gt;ada&lt;/b&gt;&quot;<wbr>@example.com",
            '<td class="field-place">Lyon, France</td>',
            '<td class="field-place">—</td>',
            'class="field-consent_given"><img src="/static/admin/img/icon-no',
        ],
    )
    assert "<b>ada</b>" not in html


def test_signup_time_column_sorts_by_when_people_signed_up(admin_client):
    SignupFactory(full_name="Later", created_at=datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC))
    SignupFactory(
        full_name="Earlier", created_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    )

    oldest_first = admin_client.get(CHANGELIST, {"o": "3"})

    assert [s.full_name for s in oldest_first.context["cl"].result_list] == ["Earlier", "Later"]
