"""Leaving the list in a real browser (§12): a fan asks from the thanks page and confirms from
the mail; staff approve in admin; the fan is gone, and a restore of an older backup does not
bring them back. Screenshots: test-artifacts/erasure-*.png."""

import re

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore
from tests.e2e.conftest import PASSWORD, log_in
from tests.factories import SignupFactory
from waitlist.models import Erasure, ErasureRequest, Signup

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"http://[^/\s]+(/remove/confirm/[^/\s]+/)")


def test_a_fan_leaves_the_list_and_no_restore_brings_them_back(
    page, live_site, artifacts_dir, mailoutbox, settings, tmp_path, django_user_model
):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.SIGNUP_RATE_LIMIT = "0"
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    SignupFactory(full_name="Ada Lovelace", email="ada@example.com")
    SignupFactory(email="grace@example.com")
    older = backup_create(kind=Backup.Kind.MANUAL)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The fan: thanks page, "remove me", their address, the mail's link, the button.
    page.goto(live_site.url + "/thanks/")
    page.get_by_role("link", name=re.compile("Remove me")).click()
    page.get_by_label("Email").fill("Ada@Example.com")
    page.screenshot(path=artifacts_dir / "erasure-ask-1280.png", full_page=True)
    page.get_by_role("button", name=re.compile("link", re.IGNORECASE)).click()
    page.wait_for_url(live_site.url + "/remove/sent/")
    assert "If that address is on our list" in page.locator("main").inner_text()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ada@example.com"]
    confirm_path = LINK.search(mailoutbox[0].body).group(1)
    assert "ada" not in confirm_path.lower()

    page.goto(live_site.url + confirm_path)
    assert "ada@example.com" in page.locator("main").inner_text()
    assert not ErasureRequest.objects.exists()  # opening the link does nothing
    page.screenshot(path=artifacts_dir / "erasure-confirm-1280.png", full_page=True)
    page.get_by_role("button", name="Remove me").click()
    page.screenshot(path=artifacts_dir / "erasure-done-1280.png", full_page=True)
    assert ErasureRequest.objects.get().status == ErasureRequest.Status.PENDING
    assert Signup.objects.filter(email="ada@example.com").exists()  # staff decide

    # Staff: the request is listed with the address and the match; approve it.
    log_in(page, live_site, next_url="/admin/waitlist/erasurerequest/")
    row = page.locator("#result_list tbody tr").first
    assert "ada@example.com" in row.inner_text()
    assert "on the list: 1 signup(s)" in row.inner_text()
    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Erase (approve)")
    page.get_by_role("button", name="Go").click()
    assert "Erased 1 fan on their request" in page.locator("ul.messagelist").inner_text()
    page.screenshot(path=artifacts_dir / "erasure-requests-1280.png", full_page=True)
    assert "ada@example.com" not in page.locator("#result_list").inner_text()

    page.goto(live_site.url + "/admin/waitlist/erasure/")
    ledger = page.locator("#result_list").inner_text()
    assert "admin:boss" in ledger and "ada" not in ledger.lower()
    page.screenshot(path=artifacts_dir / "erasure-ledger-1280.png", full_page=True)

    # An older backup still holds her; restoring it does not bring her back.
    backup_restore(name=older.name, triggered_by="test")
    assert set(Signup.objects.values_list("email", flat=True)) == {"grace@example.com"}
    assert Erasure.objects.count() == 1
