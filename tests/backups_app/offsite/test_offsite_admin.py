"""Off-site copies in the backup catalogue in admin (§8.1): where each backup lives, a filter
by place, and the "Upload off-site now" and "Fetch from off-site" actions."""

import re

import pytest
from django.contrib.admin.models import LogEntry

from backups_app import files
from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services.offsite import backup_offsite_upload_pending
from tests.backups_app.conftest import staff_with, take
from tests.backups_app.offsite.conftest import PREFIX, closed_port_url, use_endpoint

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"


def remove_local_files(backup_dir, backup: Backup) -> None:
    (backup_dir / backup.name).unlink()
    (backup_dir / files.manifest_name_for(backup.name)).unlink()


def rows(html: str) -> dict[str, str]:
    """Each listed backup's name -> its "where" cell, as the changelist shows them."""
    names = re.findall(r'class="field-label"><a [^>]*><span title="(backup-[^"]+)"', html)
    places = re.findall(r'class="field-where">(.*?)</td>', html)
    assert len(names) == len(places)
    return dict(zip(names, places, strict=True))


def run_action(client, action: str, *backups: Backup):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [b.pk for b in backups]},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def three_places(offsite, backup_dir):
    """One backup off-site only, one in both places, one local only (oldest first)."""
    offsite_only, both = take(2)
    backup_offsite_upload_pending()
    remove_local_files(backup_dir, offsite_only)
    local_only = take(1)[0]
    return offsite_only, both, local_only


def test_where_column_says_local_off_site_or_both(admin_client, three_places):
    offsite_only, both, local_only = three_places

    listed = rows(admin_client.get(CHANGELIST).content.decode())

    assert listed == {
        offsite_only.name: "off-site",
        both.name: "both",
        local_only.name: "local",
    }


def test_where_column_flags_a_failing_upload_with_its_error_on_hover(
    admin_client, offsite, settings
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backup = take(1)[0]
    backup_offsite_upload_pending()

    cell = rows(admin_client.get(CHANGELIST).content.decode())[backup.name]

    assert cell.startswith('<span title="off-site upload failed 1 time(s): ')
    assert "EndpointConnectionError" in cell
    assert cell.endswith("local ⚠</span>")


@pytest.mark.parametrize(
    ("where", "expected"),
    [("local", [2]), ("offsite", [0]), ("both", [1]), ("", [0, 1, 2])],
)
def test_location_filter(admin_client, three_places, where, expected):
    url = f"{CHANGELIST}?where={where}" if where else CHANGELIST

    html = admin_client.get(url).content.decode()

    assert set(rows(html)) == {three_places[i].name for i in expected}
    assert "off-site only" in html  # the filter's choices


def test_upload_off_site_now_copies_only_the_selected_backup(
    admin_client, admin_user, offsite, s3_client
):
    chosen, other = take(2)

    response = run_action(admin_client, "upload_offsite_now", chosen)

    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=offsite).get("Contents", [])}
    assert keys == {PREFIX + chosen.name, PREFIX + files.manifest_name_for(chosen.name)}
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert (chosen.location, other.location) == ("both", "local")
    assert messages_of(response) == [f"Copied off-site: {chosen.name}."]
    assert LogEntry.objects.filter(
        user=admin_user, object_repr=chosen.name, change_message="Copied off-site"
    ).exists()


def test_upload_off_site_now_does_not_wait_for_the_back_off(
    admin_client, offsite, settings, s3_endpoint
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backup = take(1)[0]
    backup_offsite_upload_pending()  # fails: the next try is 10 s away
    use_endpoint(settings, endpoint=s3_endpoint, bucket=offsite)
    assert backup_offsite_upload_pending().uploaded == []  # the worker still waits

    run_action(admin_client, "upload_offsite_now", backup)

    backup.refresh_from_db()
    assert backup.location == "both"
    assert (backup.offsite_error, backup.offsite_next_try_at) == ("", None)


def test_upload_off_site_now_skips_backups_already_off_site_or_not_complete(
    admin_client, offsite, s3_client
):
    sent = take(1)[0]
    backup_offsite_upload_pending()
    failed = Backup.objects.create(
        name="backup-2020-01-01T00-00-00-000Z.sql",
        kind=Backup.Kind.MANUAL,
        status=Backup.Status.FAILED,
        vendor="sqlite",
    )

    response = run_action(admin_client, "upload_offsite_now", sent, failed)

    assert messages_of(response) == [
        f"Skipped {sent.name}: already off-site; {failed.name}: not a complete backup (failed)."
    ]
    assert s3_client.list_objects_v2(Bucket=offsite)["KeyCount"] == 2


def test_upload_off_site_now_reports_the_store_error_and_records_the_attempt(
    admin_client, offsite, settings
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    first, second = take(2)

    response = run_action(admin_client, "upload_offsite_now", first, second)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.offsite_attempts == 1 and first.offsite_next_try_at is not None
    assert second.offsite_attempts == 0  # not sent once the store had failed
    assert messages_of(response) == [
        f"Failed, {first.name}: {first.offsite_error}",
        f"Skipped {second.name}: not sent after the off-site store failed.",
    ]
    assert first.offsite_error.startswith("EndpointConnectionError")


def test_upload_off_site_now_says_when_off_site_copies_are_off(admin_client, signups):
    backup = take(1)[0]

    response = run_action(admin_client, "upload_offsite_now", backup)

    assert messages_of(response) == ["Off-site copies are off: BACKUP_OFFSITE_BUCKET is not set."]
    backup.refresh_from_db()
    assert backup.offsite_at is None


def test_fetch_from_off_site_brings_back_the_checked_files(
    admin_client, admin_user, three_places, backup_dir
):
    offsite_only, both, _ = three_places

    response = run_action(admin_client, "fetch_from_offsite", offsite_only, both)

    assert (backup_dir / offsite_only.name).stat().st_size == offsite_only.size_bytes
    assert files.sha256_of(backup_dir / offsite_only.name) == offsite_only.sha256
    assert (backup_dir / files.manifest_name_for(offsite_only.name)).is_file()
    assert Backup.objects.get(pk=offsite_only.pk).location == "both"
    assert messages_of(response) == [
        f"Fetched from off-site: {offsite_only.name}.",
        f"Skipped {both.name}: already local.",
    ]
    assert LogEntry.objects.filter(
        user=admin_user, object_repr=offsite_only.name, change_message="Fetched from off-site"
    ).exists()


def test_fetch_from_off_site_removes_a_copy_that_does_not_match_its_manifest(
    admin_client, three_places, backup_dir, s3_client, offsite
):
    offsite_only = three_places[0]
    s3_client.put_object(Bucket=offsite, Key=PREFIX + offsite_only.name, Body=b"-- replaced\n")

    response = run_action(admin_client, "fetch_from_offsite", offsite_only)

    [message] = messages_of(response)
    assert message.startswith(f"Failed, {offsite_only.name}: {offsite_only.name} is 12 bytes; ")
    assert message.endswith("The fetched files were removed.")
    assert not (backup_dir / offsite_only.name).exists()
    assert not (backup_dir / files.manifest_name_for(offsite_only.name)).exists()
    assert Backup.objects.get(pk=offsite_only.pk).location == "off-site"


def test_fetch_from_off_site_says_when_the_copy_is_gone(
    admin_client, three_places, s3_client, offsite
):
    offsite_only = three_places[0]
    s3_client.delete_object(Bucket=offsite, Key=PREFIX + offsite_only.name)

    response = run_action(admin_client, "fetch_from_offsite", offsite_only)

    assert messages_of(response) == [
        f"Failed, {offsite_only.name}: No backup named '{offsite_only.name}' off-site."
    ]


def test_fetch_from_off_site_reports_a_store_that_is_down(
    admin_client, three_places, settings, offsite
):
    offsite_only = three_places[0]
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)

    response = run_action(admin_client, "fetch_from_offsite", offsite_only)

    [message] = messages_of(response)
    assert message.startswith(f"Failed, {offsite_only.name}: ")
    assert "Could not connect to the endpoint URL" in message


def test_fetch_from_off_site_waits_for_a_running_backup_or_restore(
    admin_client, three_places, settings, backup_dir
):
    offsite_only = three_places[0]
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 0

    with get_engine().lock(timeout=0):  # as a running restore holds it
        response = run_action(admin_client, "fetch_from_offsite", offsite_only)

    [message] = messages_of(response)
    assert message.startswith("Nothing was fetched: Another backup or restore is running")
    assert not (backup_dir / offsite_only.name).exists()


def test_fetch_from_off_site_says_when_off_site_copies_are_off(admin_client, signups):
    backup = take(1)[0]

    response = run_action(admin_client, "fetch_from_offsite", backup)

    assert messages_of(response) == ["Off-site copies are off: BACKUP_OFFSITE_BUCKET is not set."]


@pytest.mark.parametrize("action", ["upload_offsite_now", "fetch_from_offsite"])
def test_staff_without_create_permission_neither_see_nor_run_the_off_site_actions(
    client, django_user_model, three_places, backup_dir, action
):
    offsite_only, _, local_only = three_places
    client.force_login(staff_with(django_user_model, "view_backup", "change_backup"))

    page = client.get(CHANGELIST).content.decode()
    response = run_action(client, action, offsite_only, local_only)

    assert 'value="pin"' in page  # the other actions are offered
    assert f'value="{action}"' not in page
    assert "No action selected." in messages_of(response)
    assert Backup.objects.get(pk=local_only.pk).location == "local"
    assert not (backup_dir / offsite_only.name).exists()


def test_staff_with_create_permission_run_the_off_site_actions(
    client, django_user_model, three_places
):
    offsite_only, _, local_only = three_places
    client.force_login(staff_with(django_user_model, "view_backup", "create_backup"))

    page = client.get(CHANGELIST).content.decode()
    run_action(client, "upload_offsite_now", local_only)
    run_action(client, "fetch_from_offsite", offsite_only)

    assert 'value="upload_offsite_now"' in page and 'value="fetch_from_offsite"' in page
    assert Backup.objects.get(pk=local_only.pk).location == "both"
    assert Backup.objects.get(pk=offsite_only.pk).location == "both"
