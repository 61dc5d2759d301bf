"""Staff in a real browser: back up, see the backup, restore it through the confirmation page."""

import pytest
from django.contrib.auth.models import Permission

from backups_app.models import Backup
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.BACKUP_DIR


def log_in(page, live_site, username: str) -> None:
    page.goto(live_site.url + "/admin/login/?next=/admin/backups_app/backup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_site.url + "/admin/backups_app/backup/")


def test_superuser_backs_up_and_restores_through_the_confirmation_page(
    page, live_site, backup_dir, django_user_model, artifacts_dir
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    SignupFactory.create_batch(3)
    log_in(page, live_site, "boss")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Back up now").click()
    page.wait_for_selector("text=Backed up to")
    backup = Backup.objects.get(kind=Backup.Kind.MANUAL)
    assert page.get_by_role("link", name=backup.name).is_visible()
    page.screenshot(path=artifacts_dir / "admin-backups.png", full_page=True)

    Signup.objects.all().delete()  # the data is lost
    page.get_by_role("link", name="Restore…").first.click()
    page.wait_for_selector("text=Signups kept")
    page.get_by_label("type the backup's name").fill("not-the-name")
    page.get_by_role("button", name="Yes, restore this backup").click()
    page.wait_for_selector("text=does not match")
    assert Signup.objects.count() == 0

    page.get_by_label("type the backup's name").fill(backup.name)
    page.get_by_role("button", name="Yes, restore this backup").click()
    page.wait_for_selector("text=Restored")

    # The superuser was created after the backup: the restore kept the account and session.
    assert "/admin/login/" not in page.url
    assert Signup.objects.count() == 3
    page.goto(live_site.url + "/admin/waitlist/signup/")
    assert page.locator("#result_list tbody tr").count() == 3


def test_staff_without_restore_permission_cannot_restore(
    page, live_site, backup_dir, django_user_model
):
    helper = django_user_model.objects.create_user("helper", password=PASSWORD, is_staff=True)
    helper.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_backup", "create_backup"])
    )
    SignupFactory()
    log_in(page, live_site, "helper")
    page.get_by_role("button", name="Back up now").click()
    page.wait_for_selector("text=Backed up to")
    backup = Backup.objects.get()

    response = page.goto(f"{live_site.url}/admin/backups_app/backup/{backup.pk}/restore/")

    assert response.status == 403
