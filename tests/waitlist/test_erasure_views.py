"""Leaving the list from the public site: ask, confirm from the mailbox, done (§12), through
the real views, the real database and Django's test outbox. Nothing may tell a visitor
whether an address is on the list."""

import re
import time
from urllib.parse import unquote

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings
from django.urls import reverse

from tests.factories import SignupFactory
from waitlist import erasure_links
from waitlist.models import Erasure, ErasureRequest, RateLimitWindow, Signup

pytestmark = pytest.mark.django_db

THANKS_URL = "/thanks/"
REMOVE_URL = "/remove/"
SENT_URL = "/remove/sent/"
LISTED = "ada@example.com"
UNLISTED = "nobody@example.com"
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
LINK = re.compile(r"http://testserver/remove/confirm/[^/\s]+/")


def without_csrf(html: bytes) -> str:
    """A page's HTML with the per-request CSRF token blanked, so two pages compare."""
    return CSRF_VALUE.sub('name="csrfmiddlewaretoken" value=""', html.decode())


def link_in(message) -> str:
    """The one confirmation link in a mail."""
    links = LINK.findall(message.body)
    assert len(links) == 1, message.body
    return links[0]


def ask(client, email: str, **extra):
    return client.post(REMOVE_URL, {"email": email, "website": ""}, **extra)


def confirm_path(email: str) -> str:
    return reverse("waitlist:erasure_confirm", args=[erasure_links.make_token(email)])


def nothing_recorded() -> bool:
    return not ErasureRequest.objects.exists() and not Erasure.objects.exists()


def test_thanks_page_links_to_the_remove_page(client):
    html = client.get(THANKS_URL).content.decode()

    assert (
        '<p class="leave"><a href="/remove/">Changed your mind? Remove me from the list</a></p>'
        in html
    )


def test_remove_page_has_a_labelled_email_field(client):
    response = client.get(REMOVE_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_email">Email</label>' in html
    assert re.search(r'<input type="email" name="email" autocomplete="email"[^>]*required', html)
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="website"' in html  # the honeypot


def test_listed_and_unlisted_addresses_get_identical_responses_and_one_mail_each(
    client, mailoutbox
):
    SignupFactory(email=LISTED)

    listed = ask(client, LISTED)
    unlisted = ask(client, UNLISTED)

    assert listed.status_code == unlisted.status_code == 302
    assert listed["Location"] == unlisted["Location"] == SENT_URL
    listed_page = client.get(listed["Location"])
    unlisted_page = client.get(unlisted["Location"])
    assert listed_page.status_code == unlisted_page.status_code == 200
    assert without_csrf(listed_page.content) == without_csrf(unlisted_page.content)
    assert "If that address is on our list" in listed_page.content.decode()
    assert [message.to for message in mailoutbox] == [[LISTED], [UNLISTED]]
    first, second = mailoutbox
    assert first.subject == second.subject
    assert first.body.replace(link_in(first), "") == second.body.replace(link_in(second), "")
    assert nothing_recorded()
    assert Signup.objects.filter(email=LISTED).exists()


def test_mail_names_the_event_the_link_how_long_it_works_and_what_to_do_if_not_asked(
    client, settings, mailoutbox
):
    settings.WAITLIST_EVENT_NAME = "Rock Night"

    ask(client, "  Ada@Example.com ")

    (message,) = mailoutbox
    assert message.to == [LISTED]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Rock Night" in message.subject
    assert "\n" not in message.subject
    assert "waitlist for Rock Night" in message.body
    assert "The link works for 3 days." in message.body
    assert "If you did not ask, ignore this message" in message.body
    assert link_in(message).startswith("http://testserver/remove/confirm/")


def test_link_in_the_mail_does_not_hold_the_address(client, mailoutbox):
    ask(client, "ada.lovelace@example.com")

    link = unquote(link_in(mailoutbox[0])).lower()

    for part in ["ada", "lovelace", "example", "@"]:
        assert part not in link


def test_link_carries_the_address_encrypted(client, mailoutbox):
    ask(client, "Ada@Example.com")

    token = link_in(mailoutbox[0]).rstrip("/").rsplit("/", 1)[1]

    assert erasure_links.email_from_token(token) == LISTED


def test_get_of_the_link_shows_the_address_and_changes_nothing(client, mailoutbox):
    SignupFactory(email=LISTED)
    ask(client, LISTED)

    response = client.get(link_in(mailoutbox[0]))

    assert response.status_code == 200
    html = response.content.decode()
    assert LISTED in html
    assert '<form method="post">' in html
    assert '<button type="submit" class="button">Remove me</button>' in html
    assert "no-store" in response["Cache-Control"]
    assert Signup.objects.filter(email=LISTED).exists()
    assert nothing_recorded()


def test_post_of_the_link_records_a_pending_request_by_default(client, mailoutbox):
    signup = SignupFactory(email=LISTED)
    ask(client, LISTED)

    response = client.post(link_in(mailoutbox[0]))

    assert response.status_code == 200
    assert "we will remove you within 30 days (and tell nobody)" in response.content.decode()
    request = ErasureRequest.objects.get()
    assert request.status == ErasureRequest.Status.PENDING
    assert request.email == LISTED
    assert Signup.objects.filter(pk=signup.pk).exists()
    assert not Erasure.objects.exists()


def test_post_of_the_link_erases_at_once_with_self_erasure(client, settings, mailoutbox):
    settings.WAITLIST_SELF_ERASURE = True
    signup = SignupFactory(email=LISTED)
    keep = SignupFactory(email="grace@example.com")
    ask(client, LISTED)

    response = client.post(link_in(mailoutbox[0]))

    assert response.status_code == 200
    assert (
        "If this address was on the list, it has been removed, and our backups will not "
        "bring it back." in response.content.decode()
    )
    assert not Signup.objects.filter(pk=signup.pk).exists()
    assert list(Signup.objects.values_list("pk", flat=True)) == [keep.pk]
    erasure = Erasure.objects.get()
    assert erasure.signups_erased == 1
    assert not ErasureRequest.objects.filter(status=ErasureRequest.Status.PENDING).exists()


@pytest.mark.parametrize("self_erasure", [False, True])
def test_done_page_is_the_same_for_listed_and_unlisted_addresses(client, settings, self_erasure):
    settings.WAITLIST_SELF_ERASURE = self_erasure
    SignupFactory(email=LISTED)

    listed = client.post(confirm_path(LISTED))
    unlisted = client.post(confirm_path(UNLISTED))

    assert listed.status_code == unlisted.status_code == 200
    assert without_csrf(listed.content) == without_csrf(unlisted.content)
    assert LISTED not in listed.content.decode()


def tampered(token: str) -> str:
    """The token with one character in the middle changed."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_link_is_refused_and_records_nothing(client, mailoutbox, method):
    SignupFactory(email=LISTED)
    ask(client, LISTED)
    link = link_in(mailoutbox[0])
    token = link.rstrip("/").rsplit("/", 1)[1]

    response = getattr(client, method)(link.replace(token, tampered(token)))

    assert response.status_code == 400
    html = response.content.decode()
    assert "This link does not work" in html
    assert 'href="/remove/">Ask for a new link</a>' in html
    assert Signup.objects.filter(email=LISTED).exists()
    assert nothing_recorded()


@pytest.mark.parametrize("method", ["get", "post"])
def test_link_made_with_another_secret_key_is_refused(client, method):
    SignupFactory(email=LISTED)
    with override_settings(SECRET_KEY="another-secret-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[]):
        path = confirm_path(LISTED)

    response = getattr(client, method)(path)

    assert response.status_code == 400
    assert nothing_recorded()


def test_link_made_before_a_secret_key_rotation_still_works(client, settings):
    SignupFactory(email=LISTED)
    old_key = settings.SECRET_KEY
    path = confirm_path(LISTED)
    settings.SECRET_KEY = "the-new-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]

    response = client.post(path)

    assert response.status_code == 200
    assert ErasureRequest.objects.get().email == LISTED


@pytest.mark.parametrize("method", ["get", "post"])
def test_expired_link_is_refused_and_records_nothing(client, settings, method):
    settings.WAITLIST_ERASURE_LINK_SECONDS = 60
    settings.WAITLIST_SELF_ERASURE = True
    SignupFactory(email=LISTED)
    fresh = confirm_path(LISTED)
    old = erasure_links.link_fernet().encrypt_at_time(LISTED.encode(), int(time.time()) - 120)
    expired = reverse("waitlist:erasure_confirm", args=[old.decode()])

    response = getattr(client, method)(expired)

    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    assert Signup.objects.filter(email=LISTED).exists()
    assert nothing_recorded()
    # The same address in a link young enough works: it is the age that was refused.
    assert client.get(fresh).status_code == 200


@pytest.mark.parametrize("token", ["not-a-token", "gAAAAA", "caf\u00e9", ""])
def test_token_that_is_not_ours_raises_a_clear_error(token):
    with pytest.raises(erasure_links.BadErasureLink, match="not valid or has expired"):
        erasure_links.email_from_token(token)


def test_token_from_a_plain_fernet_of_another_key_is_refused():
    foreign = Fernet(Fernet.generate_key()).encrypt(LISTED.encode()).decode()

    with pytest.raises(erasure_links.BadErasureLink):
        erasure_links.email_from_token(foreign)


def test_over_the_rate_limit_gets_429_with_retry_after_and_sends_nothing(
    client, settings, mailoutbox
):
    settings.SIGNUP_RATE_LIMIT = "2/m"
    for n in range(2):
        assert ask(client, f"fan{n}@example.com", REMOTE_ADDR="203.0.113.7").status_code == 302

    response = ask(client, "one-too-many@example.com", REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "try again" in response.content.decode()
    assert [message.to for message in mailoutbox] == [["fan0@example.com"], ["fan1@example.com"]]
    counters = RateLimitWindow.objects.filter(key__startswith="ratelimit:erasure:203.0.113.7:")
    assert [counter.hits for counter in counters] == [3]


def test_invalid_email_shows_the_form_again_with_the_error_and_sends_nothing(client, mailoutbox):
    response = ask(client, "not-an-email")

    assert response.status_code == 200
    html = response.content.decode()
    summary = re.search(
        r'<div class="error-summary" tabindex="-1" data-error-summary>(.*?)</ul>', html, re.S
    )
    assert summary, "no focusable error summary"
    assert re.findall(r'<li><a href="(#[^"]+)">([^<]+)</a></li>', summary.group(1)) == [
        ("#id_email", "Please enter a valid email address.")
    ]
    assert 'id="id_email_error"' in html
    assert 'value="not-an-email"' in html
    assert "<title>Error: Leave the waitlist" in html
    assert mailoutbox == []


def test_empty_email_is_asked_for(client, mailoutbox):
    response = ask(client, "")

    assert response.status_code == 200
    assert "Please enter your email address." in response.content.decode()
    assert mailoutbox == []


def test_filled_honeypot_sends_nothing_but_looks_like_success(client, mailoutbox):
    response = client.post(REMOVE_URL, {"email": LISTED, "website": "http://spam.example"})

    assert response.status_code == 302
    assert response["Location"] == SENT_URL
    assert mailoutbox == []


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_not_allowed(client, method):
    assert getattr(client, method)(REMOVE_URL).status_code == 405
    assert getattr(client, method)(SENT_URL).status_code == 405
    assert getattr(client, method)(confirm_path(LISTED)).status_code == 405


def test_erasure_url_names_resolve():
    assert reverse("waitlist:erasure_request") == REMOVE_URL
    assert reverse("waitlist:erasure_sent") == SENT_URL
    assert reverse("waitlist:erasure_confirm", args=["abc"]) == "/remove/confirm/abc/"


@override_settings(SIGNUP_RATE_LIMIT="0")
def test_a_mail_server_that_fails_gets_a_clear_page_the_same_for_every_address(
    client, mail_server_down
):
    SignupFactory(email=LISTED)

    listed = client.post(REMOVE_URL, {"email": LISTED, "website": ""})
    unlisted = client.post(REMOVE_URL, {"email": UNLISTED, "website": ""})

    assert listed.status_code == unlisted.status_code == 503
    assert without_csrf(listed.content) == without_csrf(unlisted.content)
    assert "could not send the link" in listed.content.decode()
    assert not ErasureRequest.objects.exists() and not Erasure.objects.exists()
