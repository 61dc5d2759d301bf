"""The signup journal off-site (§11 with §8.1), against a real S3-compatible server."""

import shutil

import pytest
from django.db import connection

from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore, backup_rotate
from backups_app.services.journal import journal_close
from backups_app.services.journal_offsite import journal_offsite_ship
from backups_app.services.offsite import backup_offsite_upload_pending
from tests.backups_app.conftest import signup_rows
from tests.backups_app.offsite.conftest import (
    PREFIX,
    closed_port_url,
    keys_in,
    listbackups_json,
    segment_names,
    use_endpoint,
)
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def offsite_bytes(s3_client, bucket: str, name: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=f"{PREFIX}journal/{name}")["Body"].read()


def test_segments_are_shipped_when_they_grow_and_not_again_when_they_do_not(
    offsite, backup_dir, s3_client
):
    [name] = segment_names(backup_dir)  # the three signups of the fixture

    first = journal_offsite_ship()

    assert first.shipped == [name]
    assert keys_in(s3_client, offsite, journal=True) == {f"journal/{name}"}
    assert offsite_bytes(s3_client, offsite, name) == (backup_dir / "journal" / name).read_bytes()
    assert journal_offsite_ship().shipped == []
    SignupFactory()
    # Still being written: sent again as it grows, but not more often than every minute.
    assert journal_offsite_ship().shipped == []
    journal_close()  # finished: sent at once
    assert journal_offsite_ship().shipped == [name]
    assert offsite_bytes(s3_client, offsite, name) == (backup_dir / "journal" / name).read_bytes()


def test_the_store_down_ships_nothing_loses_nothing_and_catches_up(
    offsite, backup_dir, s3_client, settings, s3_endpoint
):
    [name] = segment_names(backup_dir)
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)

    down = journal_offsite_ship()

    assert list(down.failed) == [name]
    assert (backup_dir / "journal" / name).stat().st_size > 0
    use_endpoint(settings, endpoint=s3_endpoint, bucket=offsite)
    assert journal_offsite_ship().shipped == [name]


def test_the_worker_pass_ships_the_journal_with_the_backups(offsite, backup_dir, s3_client):
    from backups_app.services import backup_worker_pass

    backup_create(kind=Backup.Kind.MANUAL)
    backup_worker_pass()
    assert keys_in(s3_client, offsite, journal=True) == {
        f"journal/{name}" for name in segment_names(backup_dir)
    }


def test_server_gone_the_backup_and_the_journal_come_back_from_off_site(
    offsite, backup_dir, s3_client
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(4)  # after the last backup: only in the table and the journal
    accepted = signup_rows()
    backup_offsite_upload_pending()
    journal_close()
    journal_offsite_ship()
    # The server is gone: an empty machine, an empty catalogue, an empty table (emptied with
    # SQL: a deletion through the app would be journalled, and replay would respect it).
    shutil.rmtree(backup_dir)
    Backup.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")
    assert not Signup.objects.exists()

    document = listbackups_json("--sync", "--offsite")
    restored = backup_restore(name=backup.name)

    assert len(document["journal_fetched"]) == 1
    assert restored.journal.inserted == 4
    assert signup_rows() == accepted


def test_off_site_segments_are_pruned_once_no_off_site_backup_needs_them(
    offsite, backup_dir, s3_client, settings
):
    [old] = segment_names(backup_dir)
    journal_close()
    journal_offsite_ship()
    SignupFactory()  # a new segment
    for _ in range(2):
        backup_create(kind=Backup.Kind.MANUAL)  # both cover `old` whole
    backup_offsite_upload_pending()

    backup_rotate(keep=1)  # prunes `old` here: the oldest backup covers it

    assert old not in segment_names(backup_dir)
    assert journal_offsite_ship().pruned == [old]
    assert f"journal/{old}" not in keys_in(s3_client, offsite, journal=True)
