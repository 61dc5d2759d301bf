"""The backup catalogue in Django admin, through admin_client (§6.2)."""

import re

import pytest
from django.contrib.admin.models import LogEntry

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.backups_app.conftest import staff_with

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"


def test_catalogue_shows_backups_at_a_glance(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL, pin=True)

    html = admin_client.get(CHANGELIST).content.decode()

    assert backup.name in html
    assert "Back up now" in html
    assert "Download" in html


def test_back_up_now_takes_a_backup_and_logs_who(admin_client, admin_user, signups):
    response = admin_client.post(CHANGELIST + "backup-now/", follow=True)

    backup = Backup.objects.get()
    assert backup.triggered_by == admin_user.username
    assert f"Backed up to {backup.name}" in response.content.decode()
    assert LogEntry.objects.filter(user=admin_user, object_repr=backup.name).exists()


def test_back_up_now_refuses_get(admin_client, signups):
    assert admin_client.get(CHANGELIST + "backup-now/").status_code == 405
    assert not Backup.objects.exists()


def test_verify_action_runs_a_restore_test(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    admin_client.post(
        CHANGELIST, {"action": "verify_with_restore_test", "_selected_action": [backup.pk]}
    )

    backup.refresh_from_db()
    assert backup.restore_tested and backup.verification_ok


def test_pin_and_unpin_actions_change_the_manifest(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    admin_client.post(CHANGELIST, {"action": "pin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()
    pinned = backup.pinned and backup.manifest["pinned"]
    admin_client.post(CHANGELIST, {"action": "unpin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()

    assert pinned
    assert not backup.pinned and not backup.manifest["pinned"]


def test_rotate_now_applies_retention(admin_client, signups, settings):
    settings.BACKUP_RETENTION = 1
    first = backup_create(kind=Backup.Kind.MANUAL)
    backup_create(kind=Backup.Kind.MANUAL)

    admin_client.post(CHANGELIST, {"action": "rotate_now", "_selected_action": [first.pk]})

    assert Backup.objects.count() == 1
    assert not Backup.objects.filter(pk=first.pk).exists()


def test_superuser_downloads_the_dump(admin_client, signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = admin_client.get(f"{CHANGELIST}{backup.pk}/download/")

    assert response.status_code == 200
    assert f'filename="{backup.name}"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == (backup_dir / backup.name).read_bytes()


def test_staff_without_download_permission_cannot_download(client, django_user_model, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    client.force_login(staff_with(django_user_model, "view_backup"))

    response = client.get(f"{CHANGELIST}{backup.pk}/download/")

    assert response.status_code == 403


def test_staff_without_create_permission_cannot_back_up(client, django_user_model, signups):
    client.force_login(staff_with(django_user_model, "view_backup"))

    page = client.get(CHANGELIST).content.decode()
    response = client.post(CHANGELIST + "backup-now/")

    assert "Back up now" not in page
    assert response.status_code == 403
    assert not Backup.objects.exists()


def test_staff_with_create_permission_can_back_up(client, django_user_model, signups):
    client.force_login(staff_with(django_user_model, "view_backup", "create_backup"))

    client.post(CHANGELIST + "backup-now/")

    assert Backup.objects.count() == 1


def test_catalogue_cannot_be_edited_or_deleted_by_hand(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    assert admin_client.get(CHANGELIST + "add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{backup.pk}/delete/").status_code == 403


def test_status_panel_shows_health_rpo_restore_test_disk_and_a_chart(admin_client, signups):
    from backups_app.services import backup_verify

    first = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=first, restore_test=True)
    backup_create(kind=Backup.Kind.MANUAL)

    html = admin_client.get(CHANGELIST).content.decode()

    assert 'id="backup-status"' in html
    for check in ("newest_backup", "rpo", "restore_test", "disk", "database"):
        assert f"<strong>{check}</strong>" in html
    assert "restored in" in html
    assert "<svg" in html and "<polyline" in html
    # Drawn by the app itself: no chart library or stylesheet from another site (a bare "cdn"
    # check would trip over the random CSRF token).
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_where_column_and_filter_say_local_while_off_site_copies_are_off(
    admin_client, signups, backup_dir
):
    kept = backup_create(kind=Backup.Kind.MANUAL)
    gone = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / gone.name).unlink()

    page = admin_client.get(CHANGELIST).content.decode()
    local_only = admin_client.get(CHANGELIST + "?where=local").content.decode()

    places = re.findall(r'class="field-where">(.*?)</td>', page)
    assert places == ["-", "local"]  # newest first: its dump is gone, and off-site is off
    assert re.findall(r'class="field-name"><a [^>]*>(backup-[^<]+)</a>', local_only) == [kept.name]


def test_messages_naming_a_backup_keep_its_lower_case_name(admin_client, signups):
    """Admin capitalises each message's first letter: a message must not start with the
    name (`backup-…` would read `Backup-…`, a file that does not exist)."""
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = admin_client.post(
        CHANGELIST,
        {"action": "verify_with_restore_test", "_selected_action": [backup.pk]},
        follow=True,
    )

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Restore test of {backup.name}: ")
    assert f"B{backup.name[1:]}" not in response.content.decode()


def test_the_catalogue_is_titled_backups_not_select_backup_to_change(admin_client, signups):
    html = admin_client.get(CHANGELIST).content.decode()

    assert "<h1>Backups</h1>" in html
    assert "Select backup to change" not in html
