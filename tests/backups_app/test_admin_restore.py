"""The restore confirmation page of a backup in Django admin, through admin_client (§6.2)."""

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.backups_app.conftest import staff_with
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"


def restore_url(backup) -> str:
    return f"{CHANGELIST}{backup.pk}/restore/"


def test_restore_page_shows_the_manifest_and_what_will_be_replaced(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    html = admin_client.get(restore_url(backup)).content.decode()

    assert backup.sha256 in html
    assert "waitlist_responses" in html
    assert "Signups kept" in html
    assert "Staff accounts kept" in html
    assert 'name="confirm_name"' in html


def test_restore_with_a_wrong_typed_name_changes_nothing(admin_client, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()

    response = admin_client.post(
        restore_url(backup), {"operation": "restore", "confirm_name": "backup-wrong.sql"}
    )

    assert "does not match" in response.content.decode()
    assert Signup.objects.count() == 0
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()


def test_restore_with_the_typed_name_brings_the_data_back(admin_client, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    SignupFactory(email="later@example.com")

    response = admin_client.post(
        restore_url(backup), {"operation": "restore", "confirm_name": backup.name}, follow=True
    )

    assert Signup.objects.count() == 4  # the backup's three and the later one, kept
    page = response.content.decode()
    assert "Restored" in page and "1 signup(s) it lacked were kept" in page
    assert Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE, pinned=True).exists()
    # The admin account did not exist when the backup was taken: it was kept, still logged in.
    assert admin_client.get(CHANGELIST).status_code == 200


def test_compare_says_how_many_later_signups_an_exact_restore_would_remove(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later-1@example.com")
    SignupFactory(email="later-2@example.com")

    html = admin_client.post(restore_url(backup), {"operation": "compare"}).content.decode()

    assert "2 live signups are not in this backup" in html
    assert 'name="confirm_count"' in html
    assert "removes the 2 live signups" in html


def test_exact_restore_needs_the_number_of_removed_signups_typed(admin_client, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    later = SignupFactory(email="later@example.com")
    compared = admin_client.post(restore_url(backup), {"operation": "compare"})
    assert f'name="newest_live_id" value="{later.pk}"' in compared.content.decode()
    seen = {"operation": "restore_exact", "newest_live_id": str(later.pk)}

    refused = admin_client.post(restore_url(backup), {**seen, "confirm_count": "2"})
    assert "type that number; nothing was changed" in refused.content.decode()
    assert Signup.objects.filter(email="later@example.com").exists()
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()

    done = admin_client.post(restore_url(backup), {**seen, "confirm_count": "1"}, follow=True)
    assert "1 signup(s) it lacked were removed" in done.content.decode()
    assert not Signup.objects.filter(email="later@example.com").exists()
    assert Signup.objects.count() == 3


def test_exact_restore_never_removes_a_signup_newer_than_the_comparison(admin_client, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    spam = SignupFactory(email="spam@example.com")
    seen_newest = spam.pk
    admin_client.post(restore_url(backup), {"operation": "compare"})
    spam.delete()  # meanwhile: the spam goes, a real fan arrives; still one to remove
    SignupFactory(email="real-fan@example.com")

    refused = admin_client.post(
        restore_url(backup),
        {"operation": "restore_exact", "newest_live_id": str(seen_newest), "confirm_count": "1"},
    )

    assert "arrived after it was confirmed" in refused.content.decode()
    assert Signup.objects.filter(email="real-fan@example.com").exists()


def test_compare_with_live_and_reinsert_missing(admin_client, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()

    compared = admin_client.post(restore_url(backup), {"operation": "compare"})
    still_missing = not Signup.objects.filter(email="zoe@example.com").exists()
    admin_client.post(restore_url(backup), {"operation": "merge", "confirm_name": backup.name})

    assert "1 signup in this backup is missing" in compared.content.decode()
    assert "zoe@example.com" in compared.content.decode()
    assert still_missing
    assert Signup.objects.filter(email="zoe@example.com").exists()


def test_staff_without_restore_permission_cannot_restore(client, django_user_model, signups):
    from waitlist.models import Signup

    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    client.force_login(staff_with(django_user_model, "view_backup", "create_backup"))

    changelist = client.get(CHANGELIST).content.decode()
    page = client.get(restore_url(backup))
    post = client.post(restore_url(backup), {"operation": "restore", "confirm_name": backup.name})

    assert "Restore…" not in changelist
    assert "Download" not in changelist
    assert page.status_code == 403
    assert post.status_code == 403
    assert Signup.objects.count() == 0


def test_restore_with_the_backups_accounts_logs_out_without_an_error(client, signups):
    from django.contrib.auth import get_user_model

    backup = backup_create(kind=Backup.Kind.MANUAL)  # before any account existed
    boss = get_user_model().objects.create_superuser("boss", "b@example.com", "a-long-pass-123")
    client.force_login(boss)

    response = client.post(
        restore_url(backup),
        {"operation": "restore", "confirm_name": backup.name, "include_accounts": "on"},
    )

    assert response.status_code == 302
    assert not get_user_model().objects.exists()
    assert client.get(CHANGELIST).status_code == 302  # to the login page


def test_restore_page_names_the_tables_a_restore_would_drop(admin_client, signups):
    from django.db import connection

    backup = backup_create(kind=Backup.Kind.MANUAL)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE vip_notes (note varchar(20))")
        cursor.execute("INSERT INTO vip_notes VALUES ('front row')")
    try:
        html = admin_client.get(restore_url(backup)).content.decode()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE vip_notes")

    assert "Tables dropped" in html
    assert "<code>vip_notes</code> (1 row)" in html
