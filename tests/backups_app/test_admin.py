"""The backup catalogue in Django admin, through admin_client (§6.2)."""

import re

import pytest
from django.contrib.admin.models import LogEntry

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.backups_app.conftest import staff_with
from tests.factories import SignupFactory

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


def test_exports_are_a_read_only_list_with_view_links(admin_client):
    changelist = admin_client.get("/admin/backups_app/export/").content.decode()
    index = admin_client.get("/admin/").content.decode()

    assert "Select export to view" in changelist
    export_row = re.search(r'<tr class="model-export">.*?</tr>', index, re.DOTALL).group(0)
    assert "View" in export_row
    assert "Change" not in export_row
