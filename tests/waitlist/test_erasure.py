"""Erasing a fan (§12): the service, the command, the keyed hash and the ledger."""

import hashlib
import hmac
import io
import json
import re

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from backups_app.models import PendingBackupRequest
from backups_app.services.auto import backup_requests_flush
from tests.factories import SignupFactory
from waitlist.erasure import (
    ErasedAddresses,
    email_hash,
    email_hashes,
    erasure_keys,
    hmac_pads,
)
from waitlist.erasure_links import email_from_token
from waitlist.models import Erasure, ErasureRequest, Signup
from waitlist.services import (
    erasure_link_send,
    erasure_request_approve,
    erasure_request_confirmed,
    erasure_request_create,
    erasure_request_decline,
    signup_erase,
    signups_erase,
)

pytestmark = pytest.mark.django_db


def test_erase_removes_every_signup_of_the_address_in_any_case():
    SignupFactory(email="ada@example.com")
    Signup.objects.bulk_create([Signup(full_name="Ada", email="ADA@Example.com ", consent=True)])
    SignupFactory(email="grace@example.com")

    result = signup_erase(email="  Ada@EXAMPLE.com", erased_by="admin:root", reason="GDPR art. 17")

    assert result.signups_erased == 2
    assert list(Signup.objects.values_list("email", flat=True)) == ["grace@example.com"]
    erasure = Erasure.objects.get()
    assert (erasure.erased_by, erasure.reason, erasure.signups_erased) == (
        "admin:root",
        "GDPR art. 17",
        2,
    )


def test_the_ledger_keeps_only_a_keyed_hash():
    SignupFactory(email="ada@example.com", full_name="Ada Lovelace")

    signup_erase(email="ada@example.com", erased_by="test")

    stored = json.dumps(list(Erasure.objects.values()), default=str).lower()
    assert "ada" not in stored and "lovelace" not in stored
    # Not a plain digest anyone could compute from a list of addresses: keyed.
    assert hashlib.sha256(b"ada@example.com").hexdigest() not in stored
    assert Erasure.objects.get().email_hash == email_hash("ADA@example.com")


def test_the_hash_depends_on_the_key(settings):
    settings.WAITLIST_ERASURE_KEY = "a" * 40
    first = email_hash("ada@example.com")
    settings.WAITLIST_ERASURE_KEY = "b" * 40

    assert email_hash("ada@example.com") != first


def test_an_old_key_still_matches_erasures_recorded_under_it(settings):
    settings.WAITLIST_ERASURE_KEY = "old-" + "k" * 40
    SignupFactory(email="ada@example.com")
    signup_erase(email="ada@example.com", erased_by="test")
    settings.WAITLIST_ERASURE_KEY = "new-" + "k" * 40
    settings.WAITLIST_ERASURE_OLD_KEYS = ["old-" + "k" * 40]

    erased = ErasedAddresses.load()

    assert erased.covers("ada@example.com", None)
    assert len(email_hashes("ada@example.com")) == 2


def test_the_sql_pads_compute_the_same_hmac():
    key = erasure_keys()[0]
    ipad, opad = hmac_pads(key)
    inner = hashlib.sha256(ipad + b"ada@example.com").digest()

    assert (
        hashlib.sha256(opad + inner).hexdigest()
        == hmac.new(key, b"ada@example.com", hashlib.sha256).hexdigest()
    )


def test_a_signup_after_the_erasure_is_not_covered():
    SignupFactory(email="ada@example.com")
    erasure = signup_erase(email="ada@example.com", erased_by="test").erasure
    erased = ErasedAddresses.load()

    assert erased.covers("ada@example.com", erasure.erased_at)
    assert not erased.covers("ada@example.com", erasure.erased_at.replace(year=2100))
    assert erased.covers("ada@example.com", "2020-01-01 10:00:00")  # SQLite's text
    assert not erased.covers("grace@example.com", None)


def test_erasing_an_address_not_on_the_list_is_recorded_and_said():
    result = signup_erase(email="nobody@example.com", erased_by="test")

    assert result.signups_erased == 0
    assert Erasure.objects.count() == 1
    assert "not on the list; the erasure is recorded anyway" in result.summary()


def test_erasing_twice_is_harmless_and_said():
    SignupFactory(email="ada@example.com")
    signup_erase(email="ada@example.com", erased_by="test")

    again = signup_erase(email="ada@example.com", erased_by="test")

    assert (again.signups_erased, again.erased_before) == (0, True)
    assert "erased before" in again.summary()


def test_not_an_address_is_refused_and_nothing_is_recorded():
    with pytest.raises(ValidationError, match="is not an email address"):
        signup_erase(email="not an address", erased_by="test")

    assert not Erasure.objects.exists()


def test_the_admin_history_of_the_signup_loses_name_and_address():
    signup = SignupFactory(email="ada@example.com", full_name="Ada Lovelace")
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    LogEntry.objects.log_actions(user.pk, [signup], ADDITION, change_message="Added.")
    content_type = ContentType.objects.get_for_model(Signup)

    signup_erase(email="ada@example.com", erased_by="test")

    entry = LogEntry.objects.get(content_type=content_type, object_id=str(signup.pk))
    assert (entry.object_repr, entry.change_message) == ("(erased)", "")


def test_a_pending_request_of_the_fan_is_settled_and_forgets_the_address():
    request = erasure_request_create(email="Ada@example.com")
    assert request.email == "ada@example.com"

    signup_erase(email="ada@example.com", erased_by="admin:root")

    request.refresh_from_db()
    assert (request.status, request.email, request.decided_by) == (
        ErasureRequest.Status.ERASED,
        "",
        "admin:root",
    )


def test_asking_twice_keeps_one_pending_request():
    first = erasure_request_create(email="ada@example.com")

    assert erasure_request_create(email="ADA@example.com").pk == first.pk


@pytest.mark.django_db(transaction=True)
def test_an_erasure_asks_for_a_backup_so_the_ledger_is_backed_up(backup_dir):
    signup_erase(email="ada@example.com", erased_by="test")
    backup_requests_flush()

    assert PendingBackupRequest.objects.filter(covered_at__isnull=True).exists()


def test_command_erases_and_says_so():
    SignupFactory(email="ada@example.com")
    out = io.StringIO()

    call_command("erase_signup", "ada@example.com", "--reason", "asked by phone", stdout=out)

    assert out.getvalue().startswith("Erased 1 signup(s) (erasure #")
    erasure = Erasure.objects.get()
    assert erasure.reason == "asked by phone"
    assert erasure.erased_by.startswith("cli")


def test_command_json():
    out = io.StringIO()

    call_command("erase_signup", "nobody@example.com", "--json", stdout=out)

    document = json.loads(out.getvalue())
    assert document["ok"] is True
    assert (document["signups_erased"], document["erased_before"]) == (0, False)


def test_command_refuses_what_is_not_an_address_in_one_line():
    out = io.StringIO()

    with pytest.raises(CommandError, match="is not an email address"):
        call_command("erase_signup", "nope", "--json", stdout=out)

    assert json.loads(out.getvalue())["ok"] is False
    assert not Erasure.objects.exists()


def test_a_confirmed_request_waits_for_staff_by_default():
    SignupFactory(email="ada@example.com")

    request = erasure_request_confirmed(email="ada@example.com")

    assert isinstance(request, ErasureRequest) and request.status == "pending"
    assert Signup.objects.filter(email="ada@example.com").exists()
    result = erasure_request_approve(erasure_request=request, decided_by="admin:root")
    assert result.signups_erased == 1
    request.refresh_from_db()
    assert (request.status, request.email) == (ErasureRequest.Status.ERASED, "")
    with pytest.raises(ValidationError, match="already decided"):
        erasure_request_approve(erasure_request=request, decided_by="admin:root")


def test_a_confirmed_request_is_carried_out_at_once_with_self_erasure(settings):
    settings.WAITLIST_SELF_ERASURE = True
    SignupFactory(email="ada@example.com")

    result = erasure_request_confirmed(email="ada@example.com")

    assert result.signups_erased == 1
    assert not ErasureRequest.objects.exists()
    assert Erasure.objects.get().erased_by == "the fan (confirmed by email)"


def test_a_declined_request_forgets_the_address():
    request = erasure_request_create(email="ada@example.com")

    erasure_request_decline(erasure_request=request, decided_by="admin:root")

    request.refresh_from_db()
    assert (request.status, request.email) == (ErasureRequest.Status.DECLINED, "")
    assert request.email_hash == email_hash("ada@example.com")


@pytest.mark.parametrize(
    "decide, status, seen",
    [
        (erasure_request_approve, ErasureRequest.Status.ERASED, True),
        # Another staff member declined it meanwhile: this copy still says pending.
        (erasure_request_decline, ErasureRequest.Status.DECLINED, False),
    ],
)
def test_declining_a_decided_request_is_refused_like_approving_it(decide, status, seen):
    request = erasure_request_create(email="ada@example.com")
    decide(erasure_request=ErasureRequest.objects.get(pk=request.pk), decided_by="admin:first")
    if seen:
        request.refresh_from_db()

    with pytest.raises(ValidationError, match="already decided"):
        erasure_request_decline(erasure_request=request, decided_by="admin:second")

    request.refresh_from_db()
    assert (request.status, request.decided_by) == (status, "admin:first")


def test_erasing_a_selection_erases_each_address_once_and_reports_each_erasure():
    ada = SignupFactory(email="ada@example.com")
    (twin,) = Signup.objects.bulk_create(
        [Signup(full_name="Ada", email=" ADA@Example.com ", consent=True)]
    )
    grace = SignupFactory(email="grace@example.com")
    SignupFactory(email="zoe@example.com")

    result = signups_erase(signups=[ada, twin, grace], erased_by="admin:root", reason="asked")

    assert [r.signups_erased for r in result.erased] == [2, 1]  # ada, then grace
    assert (result.signups_erased, result.refused) == (3, [])
    assert list(Signup.objects.values_list("email", flat=True)) == ["zoe@example.com"]
    assert sorted(Erasure.objects.values_list("email_hash", "signups_erased")) == sorted(
        [(email_hash("ada@example.com"), 2), (email_hash("grace@example.com"), 1)]
    )
    assert {r.erasure for r in result.erased} == set(Erasure.objects.all())


def test_erasing_a_selection_refuses_what_is_not_an_address_and_erases_the_rest():
    ada = SignupFactory(email="ada@example.com")
    broken = SignupFactory(email="broken@example.com")
    Signup.objects.filter(pk=broken.pk).update(email="Not An Address")
    broken.refresh_from_db()

    result = signups_erase(signups=[broken, ada], erased_by="admin:root", reason="asked")

    assert result.refused == ["not an address"]
    assert [r.signups_erased for r in result.erased] == [1]
    assert list(Signup.objects.values_list("email", flat=True)) == ["Not An Address"]
    assert Erasure.objects.get().email_hash == email_hash("ada@example.com")


def confirm_url_for(token: str) -> str:
    return f"https://waitlist.example/remove/confirm/{token}/"


@pytest.mark.parametrize("listed", [True, False])
def test_the_erasure_link_is_mailed_whether_or_not_the_address_is_listed(listed, mailoutbox):
    if listed:
        SignupFactory(email="ada@example.com")

    erasure_link_send(email="  Ada@Example.com ", confirm_url_for=confirm_url_for)

    (message,) = mailoutbox
    assert message.to == ["ada@example.com"]
    (token,) = re.findall(r"https://waitlist\.example/remove/confirm/([^/\s]+)/", message.body)
    assert email_from_token(token) == "ada@example.com"
    assert "The link works for 3 days." in message.body
    assert not ErasureRequest.objects.exists() and not Erasure.objects.exists()


def test_a_failing_mail_server_reaches_the_caller(mail_server_down):
    # The view turns it into its 503 page (test_erasure_views.py).
    with pytest.raises(ConnectionRefusedError):
        erasure_link_send(email="ada@example.com", confirm_url_for=confirm_url_for)
