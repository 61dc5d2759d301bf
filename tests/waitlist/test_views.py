"""The public signup page (docs/spec.md §3), through the real view and the real database."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.assertions import assert_contains_all
from tests.factories import SignupFactory
from waitlist.models import RateLimitWindow, Signup

pytestmark = pytest.mark.django_db

SIGNUP_URL = "/"
THANKS_URL = "/thanks/"


def test_signup_page_shows_the_form_with_labels(client):
    response = client.get(SIGNUP_URL)

    assert response.status_code == 200
    html = response.content.decode()
    for field in ["full_name", "email", "phone", "city", "country", "message", "consent"]:
        assert f'for="id_{field}"' in html, f"no label for {field}"
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="viewport"' in html


def test_valid_signup_saves_one_row_and_redirects_to_thanks(client, signup_data):
    response = client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 302
    assert response["Location"] == THANKS_URL
    signup = Signup.objects.get()
    assert signup.full_name == "Ada Lovelace"
    assert signup.email == "ada.lovelace@example.com"
    assert signup.phone == "+44 20 7946 0000"
    assert signup.city == "London"
    assert signup.country == "United Kingdom"
    assert signup.message == "Front row, please!"
    assert signup.consent is True
    assert signup.created_at is not None


def test_signup_with_only_required_fields_is_saved(client):
    response = client.post(
        SIGNUP_URL, {"full_name": "Grace Hopper", "email": "grace@example.com", "consent": "on"}
    )

    assert response.status_code == 302
    assert Signup.objects.get().email == "grace@example.com"


def test_thanks_page_renders(client):
    response = client.get(THANKS_URL)

    assert response.status_code == 200
    assert "on the list" in response.content.decode()


def test_thanks_page_says_what_happens_next_and_how_to_share(client):
    html = client.get(THANKS_URL).content.decode()

    assert_contains_all(
        html,
        [
            "<h2>What happens next</h2>",
            "We will email you as soon as tickets open.",
            "There is nothing else to do for now.",
            # Without JavaScript the link and the mail are there; the buttons appear only with it.
            '<a class="share-url" href="http://testserver/">http://testserver/</a>',
            'href="mailto:?subject=Join%20the%20waitlist%20for%20Our%20next%20show&amp;body=',
            '<button type="button" class="button" data-share-button hidden>Share</button>',
        ],
    )


def test_optional_fields_say_so_in_their_label_and_required_ones_are_required(client):
    html = client.get(SIGNUP_URL).content.decode()

    for field, label in [("phone", "Phone"), ("city", "City"), ("country", "Country")]:
        assert (
            f'<label for="id_{field}">{label} <span class="optional">(optional)</span></label>'
            in html
        )
    assert '<label for="id_message">Message <span class="optional">(optional)</span>' in html
    assert '<label for="id_full_name">Full name</label>' in html
    assert '<label for="id_email">Email</label>' in html
    assert "Optional." not in html
    for field in ["full_name", "email", "consent"]:
        assert re.search(rf'<input [^>]*required[^>]*id="id_{field}"', html), field


def test_failed_submit_summarises_the_errors_with_links_to_their_fields(client, signup_data):
    signup_data["email"] = "not-an-email"
    del signup_data["consent"]

    html = client.post(SIGNUP_URL, signup_data).content.decode()

    summary = re.search(
        r'<div class="error-summary" tabindex="-1" data-error-summary>(.*?)</ul>', html, re.S
    )
    assert summary, "no focusable error summary"
    assert "There is a problem" in summary.group(1)
    assert re.findall(r'<li><a href="(#[^"]+)">([^<]+)</a></li>', summary.group(1)) == [
        ("#id_email", "Please enter a valid email address."),
        ("#id_consent", "Please tick the box to join the waitlist."),
    ]
    assert "<title>Error: Join the waitlist" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("full_name", "", "Please tell us your name."),
        ("full_name", "x" * 201, "at most 200 characters"),
        ("email", "", "Please enter your email address."),
        ("email", "not-an-email", "Please enter a valid email address."),
        ("email", "a" * 250 + "@example.com", "at most 254 characters"),
        ("phone", "call me maybe", "Enter a phone number"),
        ("phone", "1" * 33, "at most 32 characters"),
        ("city", "x" * 101, "at most 100 characters"),
        ("country", "x" * 101, "at most 100 characters"),
        ("message", "x" * 1001, "at most 1000 characters"),
        ("consent", "", "Please tick the box to join the waitlist."),
    ],
)
def test_invalid_field_shows_its_error_and_saves_nothing(
    client, signup_data, field, value, message
):
    signup_data[field] = value
    if field == "consent":
        del signup_data["consent"]

    response = client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    assert any(message in error for error in form.errors[field])
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert 'aria-invalid="true"' in html
    assert Signup.objects.count() == 0


def test_invalid_submission_keeps_what_the_fan_typed(client, signup_data):
    signup_data["email"] = "nope"

    response = client.post(SIGNUP_URL, signup_data)

    assert 'value="Ada Lovelace"' in response.content.decode()


def test_duplicate_email_in_another_case_redirects_and_saves_nothing(client, signup_data):
    first = SignupFactory(email="ada.lovelace@example.com", full_name="Original")
    signup_data["email"] = "  ADA.LOVELACE@EXAMPLE.COM "

    response = client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 302
    assert response["Location"] == THANKS_URL
    assert Signup.objects.count() == 1
    first.refresh_from_db()
    assert first.full_name == "Original"


def test_duplicate_email_response_does_not_reveal_it_was_known(client, signup_data):
    new_response = client.post(SIGNUP_URL, signup_data, follow=True)
    repeat_response = client.post(SIGNUP_URL, signup_data, follow=True)

    assert new_response.content == repeat_response.content


def test_filled_honeypot_saves_nothing_but_looks_like_success(client, signup_data):
    signup_data["website"] = "http://spam.example"

    response = client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 302
    assert response["Location"] == THANKS_URL
    assert Signup.objects.count() == 0


def test_post_without_csrf_token_is_refused(signup_data):
    csrf_client = Client(enforce_csrf_checks=True)

    response = csrf_client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 403
    assert Signup.objects.count() == 0


def test_post_with_csrf_token_from_the_form_is_accepted(signup_data):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.get(SIGNUP_URL)
    signup_data["csrfmiddlewaretoken"] = csrf_client.cookies["csrftoken"].value

    response = csrf_client.post(SIGNUP_URL, signup_data)

    assert response.status_code == 302
    assert Signup.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_not_allowed(client, method):
    assert getattr(client, method)(SIGNUP_URL).status_code == 405


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


class TestRateLimit:
    def post_from(self, client, data, address, **extra):
        return client.post(SIGNUP_URL, data, REMOTE_ADDR=address, **extra)

    def test_over_the_limit_gets_429_with_retry_after_and_saves_nothing(
        self, client, settings, signup_data
    ):
        settings.SIGNUP_RATE_LIMIT = "3/m"
        for n in range(3):
            signup_data["email"] = f"fan{n}@example.com"
            assert self.post_from(client, signup_data, "203.0.113.7").status_code == 302

        signup_data["email"] = "one-too-many@example.com"
        response = self.post_from(client, signup_data, "203.0.113.7")

        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 61
        assert "try again" in response.content.decode()
        assert Signup.objects.count() == 3
        assert not Signup.objects.filter(email="one-too-many@example.com").exists()

    def test_other_clients_are_not_affected(self, client, settings, signup_data):
        settings.SIGNUP_RATE_LIMIT = "1/m"
        assert self.post_from(client, signup_data, "203.0.113.7").status_code == 302

        signup_data["email"] = "someone-else@example.com"
        response = self.post_from(client, signup_data, "198.51.100.9")

        assert response.status_code == 302
        assert Signup.objects.count() == 2

    def test_counter_is_shared_by_every_process_through_the_database(
        self, client, settings, signup_data
    ):
        settings.SIGNUP_RATE_LIMIT = "1/m"
        self.post_from(client, signup_data, "203.0.113.7")
        # A second client has its own handler and middleware, like a second web process.
        other_process = Client()

        response = self.post_from(other_process, signup_data, "203.0.113.7")

        assert response.status_code == 429
        counters = RateLimitWindow.objects.filter(key__startswith="ratelimit:signup:203.0.113.7:")
        assert [counter.hits for counter in counters] == [2]

    def test_zero_turns_the_limit_off(self, client, settings, signup_data):
        settings.SIGNUP_RATE_LIMIT = "0"
        for n in range(5):
            signup_data["email"] = f"fan{n}@example.com"
            assert self.post_from(client, signup_data, "203.0.113.7").status_code == 302
        assert Signup.objects.count() == 5

    def test_page_views_do_not_count(self, client, settings, signup_data):
        settings.SIGNUP_RATE_LIMIT = "1/m"
        for _ in range(3):
            client.get(SIGNUP_URL, REMOTE_ADDR="203.0.113.7")

        assert self.post_from(client, signup_data, "203.0.113.7").status_code == 302

    def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
        self, client, settings, signup_data
    ):
        settings.SIGNUP_RATE_LIMIT = "1/m"
        settings.SIGNUP_TRUSTED_PROXY_COUNT = 1
        proxy = "10.0.0.2"
        assert (
            self.post_from(client, signup_data, proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
        ).status_code == 302

        signup_data["email"] = "neighbour@example.com"
        other_fan = self.post_from(client, signup_data, proxy, HTTP_X_FORWARDED_FOR="198.51.100.9")
        signup_data["email"] = "again@example.com"
        same_fan_forging = self.post_from(
            client, signup_data, proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7"
        )

        assert other_fan.status_code == 302
        assert same_fan_forging.status_code == 429


def test_signup_url_names_resolve():
    assert reverse("waitlist:signup") == SIGNUP_URL
    assert reverse("waitlist:thanks") == THANKS_URL
