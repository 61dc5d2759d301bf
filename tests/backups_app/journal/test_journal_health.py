"""The journal in /health/ and the admin status panel (§11)."""

import datetime

import pytest
from django.utils import timezone

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_see_the_journal_size_newest_entry_and_what_no_backup_holds(admin_client, backup_dir):
    SignupFactory.create_batch(2)
    backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(3)

    check = admin_client.get("/health/").json()["checks"]["journal"]

    assert check["ok"] is True
    assert (check["segments"], check["unbacked_entries"]) == (1, 3)
    assert check["size_bytes"] > 0
    assert check["newest_entry_at"] is not None
    assert check["detail"].endswith("3 entries not yet in a backup")


def test_anonymous_visitors_see_only_whether_the_journal_is_ok(client, backup_dir):
    SignupFactory()
    assert client.get("/health/").json()["checks"]["journal"] == {"ok": True}


def test_signups_that_are_not_journalled_make_health_fail(admin_client, backup_dir):
    backup_dir.mkdir(mode=0o700)
    (backup_dir / "journal").write_text("a file where the journal folder should be")
    SignupFactory()  # committed, but its journal entry cannot be written
    Signup.objects.update(created_at=timezone.now() - datetime.timedelta(seconds=120))

    response = admin_client.get("/health/")

    assert response.status_code == 503
    check = response.json()["checks"]["journal"]
    assert check["ok"] is False
    assert "is not journalled" in check["detail"]


def test_the_admin_status_panel_shows_the_journal(admin_client, backup_dir):
    SignupFactory.create_batch(2)
    page = admin_client.get("/admin/backups_app/backup/").content.decode()
    assert "journal" in page
    assert "2 entries not yet in a backup" in page


def test_a_journal_turned_off_is_said_so(admin_client, backup_dir, settings):
    settings.BACKUP_JOURNAL = False
    SignupFactory()
    check = admin_client.get("/health/").json()["checks"]["journal"]
    assert check["ok"] is True
    assert "BACKUP_JOURNAL=0" in check["detail"]
    assert not (backup_dir / "journal").exists()
