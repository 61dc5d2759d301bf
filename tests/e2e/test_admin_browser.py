"""Staff in a real browser: back up, see the backup, restore it through the confirmation page."""

import pytest
from django.contrib.auth.models import Permission

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.e2e.conftest import PASSWORD, log_in, submit_login
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"
SIZES = [(1280, 800), (1440, 900), (390, 844)]
# Django admin's --delete-button-bg, as the browser computes it.
DELETE_RED = "rgb(186, 33, 33)"


def scrolls_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def section_of(locator) -> str:
    """The id of the page section holding this element."""
    return locator.evaluate("element => element.closest('.restore-section').id")


def test_superuser_backs_up_and_restores_through_the_confirmation_page(
    page, live_site, backup_dir, django_user_model, artifacts_dir
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    SignupFactory.create_batch(3)
    log_in(page, live_site, username="boss", next_url=CHANGELIST)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Back up now").click()
    page.wait_for_selector("text=Backed up to")
    backup = Backup.objects.get(kind=Backup.Kind.MANUAL)
    assert page.get_by_role("link", name=backup.name).is_visible()
    page.screenshot(path=artifacts_dir / "admin-backups.png", full_page=True)

    Signup.objects.all().delete()  # the data is lost
    page.get_by_role("link", name="Restore…").first.click()
    effects = page.locator("#restore-effects")
    assert "3 signups in this backup will be brought back" in effects.inner_text()
    assert "No signup has been added since the backup" in effects.inner_text()
    assert "Staff accounts and passwords are kept" in effects.inner_text()

    # The manifest is folded away until asked for.
    manifest = page.locator("#restore-manifest pre")
    assert backup.sha256 in manifest.text_content()
    assert not manifest.is_visible()
    page.get_by_text("Backup manifest (technical)").click()
    assert manifest.is_visible()
    page.get_by_text("Backup manifest (technical)").click()
    assert not manifest.is_visible()

    # The red restore button stands in the danger zone, not beside the safe buttons.
    compare = page.get_by_role("button", name="Compare with live")
    merge = page.get_by_role("button", name="Bring back missing signups only")
    restore = page.get_by_role("button", name="Restore this backup")
    assert section_of(compare) == section_of(merge) == "restore-safe"
    assert section_of(restore) == "restore-danger"
    assert restore.evaluate("element => getComputedStyle(element).backgroundColor") == DELETE_RED
    assert compare.evaluate("element => getComputedStyle(element).backgroundColor") != DELETE_RED
    gap = restore.bounding_box()["y"] - merge.bounding_box()["y"] - merge.bounding_box()["height"]
    assert gap > 3 * merge.bounding_box()["height"]

    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        assert not scrolls_sideways(page), f"the restore page scrolls sideways at {width}px"
        assert restore.is_visible() and compare.is_visible()
        page.screenshot(path=artifacts_dir / f"admin-restore-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Comparing offers the exact restore, inside the danger zone too.
    compare.click()
    page.wait_for_selector("#restore-comparison")
    comparison = page.locator("#restore-comparison").inner_text()
    assert "3 signups in this backup are missing" in comparison
    exact = page.get_by_role("button", name="Restore exactly, removing 0 signups")
    assert section_of(exact) == "restore-danger"
    assert not scrolls_sideways(page)
    page.screenshot(path=artifacts_dir / "admin-restore-compared-1280.png", full_page=True)

    name_field = page.get_by_label("To restore it, type the backup's name")
    name_field.fill("not-the-name")
    restore.click()
    page.wait_for_selector("text=does not match")
    assert Signup.objects.count() == 0

    name_field.fill(backup.name)
    page.get_by_role("button", name="Restore this backup").click()
    page.wait_for_selector("text=Restored")

    # The superuser was created after the backup: the restore kept the account and session.
    assert page.url == live_site.url + CHANGELIST
    assert page.locator(".messagelist").get_by_text("staff accounts kept").is_visible()
    assert not scrolls_sideways(page)
    page.screenshot(path=artifacts_dir / "admin-restore-done-1280.png", full_page=True)
    assert Signup.objects.count() == 3
    page.goto(live_site.url + "/admin/waitlist/signup/")
    assert page.locator("#result_list tbody tr").count() == 3


def test_restore_with_the_backups_accounts_explains_the_logout_on_the_login_page(
    page, live_site, backup_dir, django_user_model, artifacts_dir
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    SignupFactory.create_batch(2)
    backup = backup_create(kind=Backup.Kind.MANUAL)  # holds boss and boss's password
    django_user_model.objects.create_superuser("newcomer", "new@example.com", PASSWORD)
    log_in(page, live_site, username="newcomer", next_url=CHANGELIST)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"{live_site.url}{CHANGELIST}{backup.pk}/restore/")
    page.get_by_label("To restore it, type the backup's name").fill(backup.name)
    page.get_by_label("Also replace the staff accounts and passwords").check()
    page.get_by_role("button", name="Restore this backup").click()

    page.wait_for_url(f"{live_site.url}/admin/login/?next=*")
    messages = page.locator(".messagelist")
    assert messages.get_by_text(f"Restored {backup.name}").is_visible()
    assert messages.get_by_text(
        "Staff accounts were replaced by the backup's, so you have been logged out; log in "
        "with an account from the backup."
    ).is_visible()
    assert page.get_by_role("button", name="Log in").is_visible()
    assert not scrolls_sideways(page)
    page.screenshot(path=artifacts_dir / "admin-restore-login-1280.png", full_page=True)
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["boss"]

    submit_login(page, live_site, next_url=CHANGELIST)


def test_staff_without_restore_permission_cannot_restore(
    page, live_site, backup_dir, django_user_model
):
    helper = django_user_model.objects.create_user("helper", password=PASSWORD, is_staff=True)
    helper.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_backup", "create_backup"])
    )
    SignupFactory()
    log_in(page, live_site, username="helper", next_url=CHANGELIST)
    page.get_by_role("button", name="Back up now").click()
    page.wait_for_selector("text=Backed up to")
    backup = Backup.objects.get()

    response = page.goto(f"{live_site.url}{CHANGELIST}{backup.pk}/restore/")

    assert response.status == 403
