"""Erasing fans in Django admin (§12): the "Erase…" action on the signup list, the erasure
ledger and the fans' erasure requests, through logged-in staff on the real database."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.assertions import assert_contains_all
from tests.factories import SignupFactory
from waitlist.erasure import email_hash
from waitlist.models import Erasure, ErasureRequest, Signup
from waitlist.services import erasure_request_create, signup_erase

pytestmark = pytest.mark.django_db

SIGNUPS = "/admin/waitlist/signup/"
LEDGER = "/admin/waitlist/erasure/"
REQUESTS = "/admin/waitlist/erasurerequest/"
CONFIRMATION = "admin/waitlist/signup/erase_selected_confirmation.html"


@pytest.fixture
def boss(client, django_user_model):
    """A logged-in superuser."""
    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "x-long-pass-1")
    client.force_login(user)
    return user


def staff_with(client, django_user_model, *codenames):
    """A logged-in staff user holding just these permissions."""
    user = django_user_model.objects.create_user(
        "helper", password="x-long-pass-123", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


@pytest.fixture
def fans():
    return [
        SignupFactory(full_name="Ada Lovelace", email="ada@example.com"),
        SignupFactory(full_name="Grace Hopper", email="grace@example.com"),
        SignupFactory(full_name="Zoe Keeps", email="zoe@example.com"),
    ]


def action_names(response) -> set[str]:
    form = response.context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices}


def erase(client, signups, **extra):
    data = {"action": "erase_selected", "_selected_action": [s.pk for s in signups], **extra}
    return client.post(SIGNUPS, data)


def templates_of(response) -> list[str]:
    return [template.name for template in response.templates]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def emails() -> set[str]:
    return set(Signup.objects.values_list("email", flat=True))


# --- the Erase… action ---------------------------------------------------------------------


def test_superuser_sees_the_erase_action_beside_the_export(client, boss, fans):
    response = client.get(SIGNUPS)

    # backups_app re-registers the signup admin with its export: the action carried over.
    assert {"erase_selected", "export_selected_to_csv"} <= action_names(response)
    assert "Erase…" in response.content.decode()


def test_confirmation_page_names_the_fans_and_says_what_happens(client, boss, fans):
    ada, grace, _ = fans

    response = erase(client, [ada, grace])

    assert response.status_code == 200
    assert CONFIRMATION in templates_of(response)
    html = response.content.decode()
    assert_contains_all(
        html,
        [
            "Ada Lovelace &lt;ada@example.com&gt;",
            "Grace Hopper &lt;grace@example.com&gt;",
            "without the address",
            "No restore, merge or journal replay brings them back.",
            "Older backups still hold their data until rotation removes those backups.",
            'name="reason"',
            "No names or addresses",
            'href="/admin/waitlist/signup/" class="button cancel-link"',
        ],
    )
    assert "zoe@example.com" not in html
    # Asking is not erasing.
    assert len(emails()) == 3
    assert not Erasure.objects.exists()


def test_confirmation_page_escapes_the_names(client, boss):
    signup = SignupFactory(full_name="<script>x</script>", email="x@example.com")

    html = erase(client, [signup]).content.decode()

    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html


def test_confirming_with_a_reason_erases_and_records_the_ledger(client, boss, fans):
    ada, grace, _ = fans

    response = erase(client, [ada, grace], post="yes", reason="asked by phone")

    assert response.status_code == 302
    assert response["Location"] == SIGNUPS
    assert messages_of(response) == [
        "Erased 2 fans (2 signups). No restore, merge or journal replay brings them back."
    ]
    assert emails() == {"zoe@example.com"}
    ledger = list(Erasure.objects.values("email_hash", "erased_by", "reason", "signups_erased"))
    assert sorted(ledger, key=lambda row: row["email_hash"]) == sorted(
        [
            {
                "email_hash": email_hash(address),
                "erased_by": "admin:boss",
                "reason": "asked by phone",
                "signups_erased": 1,
            }
            for address in ("ada@example.com", "grace@example.com")
        ],
        key=lambda row: row["email_hash"],
    )
    logged = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Erasure))
    assert sorted(entry.object_repr for entry in logged) == sorted(
        str(erasure) for erasure in Erasure.objects.all()
    )
    for entry in LogEntry.objects.all():
        for leaked in ("ada", "grace", "Lovelace", "Hopper"):
            assert leaked not in entry.object_repr.lower()
            assert leaked not in entry.change_message.lower()


def test_one_address_written_twice_is_one_fan_with_two_signups(client, boss, fans):
    ada = fans[0]
    # A row written behind the app's back, untrimmed and upper-case: the same fan.
    twin = SignupFactory(full_name="Ada L.", email="twin@example.com")
    Signup.objects.filter(pk=twin.pk).update(email=" ADA@example.com ")

    response = erase(client, [ada, twin], post="yes", reason="asked by letter")

    assert messages_of(response)[0].startswith("Erased 1 fan (2 signups).")
    assert Erasure.objects.get().signups_erased == 2
    assert emails() == {"grace@example.com", "zoe@example.com"}


@pytest.mark.parametrize(
    "reason, error",
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("ada@example.com asked", "Leave out the address"),
        ("ada lovelace asked by phone", "Leave out the name"),
    ],
)
def test_a_missing_or_personal_reason_erases_nothing(client, boss, fans, reason, error):
    response = erase(client, fans[:1], post="yes", reason=reason)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert len(emails()) == 3
    assert not Erasure.objects.exists()


def test_staff_without_the_permission_get_no_action_and_a_forged_post_erases_nothing(
    client, django_user_model, fans
):
    staff_with(client, django_user_model, "view_signup", "change_signup")

    listed = client.get(SIGNUPS)
    forged = erase(client, fans, post="yes", reason="forged")
    asked = erase(client, fans)

    assert listed.status_code == 200
    assert "erase_selected" not in action_names(listed)
    assert "Erase…" not in listed.content.decode()
    # Without any action to offer, admin shows the list again: the action is simply not there.
    assert forged.status_code in {200, 302, 403}
    assert CONFIRMATION not in templates_of(forged) + templates_of(asked)
    assert len(emails()) == 3
    assert not Erasure.objects.exists()


def test_staff_with_the_permission_can_erase(client, django_user_model, fans):
    staff_with(client, django_user_model, "view_signup", "erase_signup")

    assert "erase_selected" in action_names(client.get(SIGNUPS))
    erase(client, fans[:1], post="yes", reason="asked by email")

    assert Erasure.objects.get().erased_by == "admin:helper"
    assert "ada@example.com" not in emails()


# --- the ledger ----------------------------------------------------------------------------


@pytest.fixture
def erasure(fans):
    return signup_erase(email="ada@example.com", erased_by="cli:ops", reason="ticket 42").erasure


def test_ledger_lists_the_erasures_without_personal_data(client, boss, erasure):
    response = client.get(LEDGER)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Erasure ledger</h1>" in html
    assert "holds no personal data" in html
    assert "ticket 42" in html and "cli:ops" in html
    assert erasure.email_hash[:12] in html
    assert erasure.email_hash not in html  # shortened
    assert "ada@example.com" not in html and "Lovelace" not in html


def test_ledger_is_searchable_by_reason_and_by_whom(client, boss, erasure):
    signup_erase(email="grace@example.com", erased_by="admin:someone", reason="other")

    by_reason = client.get(LEDGER, {"q": "ticket"}).context["cl"].result_list
    by_whom = client.get(LEDGER, {"q": "someone"}).context["cl"].result_list

    assert [e.reason for e in by_reason] == ["ticket 42"]
    assert [e.erased_by for e in by_whom] == ["admin:someone"]


def test_nobody_adds_changes_or_deletes_ledger_entries(client, boss, erasure):
    listed = client.get(LEDGER)
    detail = client.get(f"{LEDGER}{erasure.pk}/change/")

    assert "delete_selected" not in action_names(listed)
    assert client.get(f"{LEDGER}add/").status_code == 403
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    changed = client.post(f"{LEDGER}{erasure.pk}/change/", {"reason": "edited"})
    assert changed.status_code == 403
    assert client.post(f"{LEDGER}{erasure.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Erasure.objects.get().reason == "ticket 42"


# --- the fans' requests --------------------------------------------------------------------


@pytest.fixture
def requests_(fans):
    """A request decided long ago, then Grace's (on the list) and a stranger's (not)."""
    old = erasure_request_create(email="old@example.com")
    ErasureRequest.objects.filter(pk=old.pk).update(status=ErasureRequest.Status.DECLINED, email="")
    grace = erasure_request_create(email="grace@example.com")
    stranger = erasure_request_create(email="stranger@example.com")
    ErasureRequest.objects.filter(pk=old.pk).update(requested_at=grace.requested_at)
    return {"old": old, "grace": grace, "stranger": stranger}


def test_requests_list_pending_first_with_the_address_and_whether_it_is_on_the_list(
    client, boss, requests_
):
    response = client.get(REQUESTS)

    listed = [r.pk for r in response.context["cl"].result_list]
    html = response.content.decode()
    assert listed[-1] == requests_["old"].pk
    assert set(listed[:2]) == {requests_["grace"].pk, requests_["stranger"].pk}
    assert "grace@example.com" in html and "stranger@example.com" in html
    assert "on the list: 1 signup(s)" in html
    assert "not on the list" in html
    assert {"approve", "decline"} <= action_names(response)
    assert client.get(f"{REQUESTS}add/").status_code == 403
    assert "delete_selected" not in action_names(response)


def test_the_requests_list_counts_the_signups_without_a_query_per_row(
    client, boss, requests_, django_assert_max_num_queries
):
    with CaptureQueriesContext(connection) as few:
        client.get(REQUESTS)
    for n in range(10):
        erasure_request_create(email=f"fan{n}@example.com")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(REQUESTS)

    assert len(response.context["cl"].result_list) == 13
    assert response.content.decode().count("not on the list") == 11


def test_approving_a_request_erases_the_fan_and_forgets_the_address(client, boss, requests_):
    grace = requests_["grace"]

    response = client.post(REQUESTS, {"action": "approve", "_selected_action": [grace.pk]})

    grace.refresh_from_db()
    assert response.status_code == 302
    assert messages_of(response) == ["Erased 1 fan on their request."]
    assert (grace.status, grace.email, grace.decided_by) == ("erased", "", "admin:boss")
    assert "grace@example.com" not in emails()
    assert Erasure.objects.get().signups_erased == 1
    assert "grace@example.com" not in client.get(REQUESTS).content.decode()


def test_declining_a_request_keeps_the_fan_and_forgets_the_address(client, boss, requests_):
    grace, old = requests_["grace"], requests_["old"]

    response = client.post(REQUESTS, {"action": "decline", "_selected_action": [grace.pk, old.pk]})

    grace.refresh_from_db()
    assert messages_of(response) == [
        "Declined 1 request; 1 request was already decided and left as is."
    ]
    assert (grace.status, grace.email, grace.decided_by) == ("declined", "", "admin:boss")
    assert "grace@example.com" in emails()
    assert not Erasure.objects.exists()


def test_approving_a_decided_request_changes_nothing(client, boss, requests_):
    old = requests_["old"]

    response = client.post(REQUESTS, {"action": "approve", "_selected_action": [old.pk]})

    assert "1 request was already decided" in messages_of(response)[0]
    assert not Erasure.objects.exists()


def test_staff_without_the_permission_cannot_decide_requests(client, django_user_model, requests_):
    staff_with(client, django_user_model, "view_erasurerequest")
    grace = requests_["grace"]

    listed = client.get(REQUESTS)
    forged = client.post(REQUESTS, {"action": "approve", "_selected_action": [grace.pk]})

    assert listed.status_code == 200
    assert not {"approve", "decline"} & action_names(listed)
    assert forged.status_code in {200, 302, 403}
    assert messages_of(forged) == []
    grace.refresh_from_db()
    assert grace.status == ErasureRequest.Status.PENDING
    assert "grace@example.com" in emails()


def test_a_row_without_a_valid_address_is_reported_and_the_others_erased(client, boss, fans):
    broken = SignupFactory(full_name="Broken Row", email="broken@example.com")
    Signup.objects.filter(pk=broken.pk).update(email="not an address")

    response = erase(client, [fans[0], broken], post="yes", reason="asked by phone")

    assert messages_of(response) == [
        "Erased 1 fan (1 signup). No restore, merge or journal replay brings them back.",
        "1 selected address is not valid and could not be erased: correct it on the signup, "
        "then erase again.",
    ]
    assert emails() == {"grace@example.com", "zoe@example.com", "not an address"}
