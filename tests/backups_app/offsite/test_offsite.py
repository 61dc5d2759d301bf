"""Off-site copies (§8.1) against a real S3-compatible HTTP server (moto's server mode)."""

import datetime
import hashlib
import io
import json
import shutil

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from backups_app import files
from backups_app.engines import get_engine
from backups_app.health import check_offsite
from backups_app.models import Backup
from backups_app.selectors import offsite_lag_seconds
from backups_app.services import (
    backup_restore,
    backup_rotate,
    backup_verify,
    backup_worker_pass,
)
from backups_app.services.offsite import (
    backup_offsite_fetch,
    backup_offsite_rotate,
    backup_offsite_sync,
    backup_offsite_upload_pending,
)
from tests.backups_app.conftest import signup_rows, take
from tests.backups_app.offsite.conftest import (
    PART_SIZE,
    PREFIX,
    closed_port_url,
    keys_in,
    listbackups_json,
    taken_and_uploaded,
    use_endpoint,
)
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def pair(backup: Backup) -> set[str]:
    return {backup.name, files.manifest_name_for(backup.name)}


def only_off_site(backup_dir) -> tuple[Backup, list[tuple]]:
    """A backup of the signups copied off-site, then the local backup folder and every signup
    gone: the backup, and the signup rows it holds."""
    backup, backed_up = taken_and_uploaded()
    shutil.rmtree(backup_dir)
    Signup.objects.all().delete()
    return backup, backed_up


def test_uploads_the_same_bytes_and_lists_the_backup_as_both(offsite, s3_client, backup_dir):
    backup = take(1)[0]

    result = backup_offsite_upload_pending()

    assert result.uploaded == [backup.name]
    assert keys_in(s3_client, offsite) == pair(backup)
    stored = s3_client.get_object(Bucket=offsite, Key=PREFIX + backup.name)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == backup.sha256
    backup.refresh_from_db()
    assert backup.offsite_at is not None and backup.location == "both"
    [listed] = listbackups_json()["backups"]
    assert (listed["name"], listed["location"]) == (backup.name, "both")
    out = io.StringIO()
    call_command("listbackups", stdout=out)
    assert "WHERE" in out.getvalue() and "both" in out.getvalue()
    assert backup_offsite_upload_pending().uploaded == []  # nothing left to send


def test_a_dump_larger_than_a_part_goes_up_in_parts_and_comes_back_whole(
    offsite, s3_client, backup_dir
):
    Signup.objects.bulk_create(
        Signup(full_name=f"Person {i}", email=f"p{i}@example.com", message="x" * 400)
        for i in range(1500)
    )
    backup = take(1)[0]
    assert backup.size_bytes > 2 * PART_SIZE
    backup_offsite_upload_pending()
    etag = s3_client.head_object(Bucket=offsite, Key=PREFIX + backup.name)["ETag"]
    assert etag.strip('"').rsplit("-", 1)[1].isdigit()  # a multipart upload's ETag
    shutil.rmtree(backup_dir)

    result = backup_verify(backup=backup)

    assert result.ok, result.problems
    assert (backup_dir / backup.name).stat().st_size == backup.size_bytes


def test_offsite_retention_keeps_the_newest_and_deletes_manifest_with_dump(
    offsite, s3_client, settings
):
    settings.BACKUP_OFFSITE_RETENTION = 2
    backups = take(4)
    backup_offsite_upload_pending()

    removed = backup_offsite_rotate()

    assert removed == [backups[1].name, backups[0].name]
    assert keys_in(s3_client, offsite) == pair(backups[2]) | pair(backups[3])
    locations = {b.name: b.location for b in Backup.objects.all()}
    assert locations == {
        backups[0].name: "local",
        backups[1].name: "local",
        backups[2].name: "both",
        backups[3].name: "both",
    }


def test_offsite_retention_keeps_pinned_backups(offsite, s3_client, settings):
    settings.BACKUP_OFFSITE_RETENTION = 1
    pinned = take(1, pin=True, pin_reason="before launch")[0]
    backups = take(2)
    backup_offsite_upload_pending()

    assert backup_offsite_rotate() == [backups[0].name]
    assert keys_in(s3_client, offsite) == pair(pinned) | pair(backups[1])


def test_restore_fetches_from_offsite_when_the_local_folder_is_gone(offsite, backup_dir, signups):
    backup, backed_up = only_off_site(backup_dir)

    backup_restore(name=backup.name)

    assert signup_rows() == backed_up
    assert (backup_dir / backup.name).is_file()
    assert (backup_dir / files.manifest_name_for(backup.name)).is_file()


def test_catalogue_rebuilt_from_offsite_alone_then_restored(offsite, backup_dir, signups):
    backup, backed_up = taken_and_uploaded()
    # The server is gone: an empty machine with an empty catalogue and no backup folder.
    shutil.rmtree(backup_dir)
    Backup.objects.all().delete()
    Signup.objects.all().delete()

    document = listbackups_json("--sync", "--offsite")

    assert document["offsite_sync"]["added"] == [backup.name]
    assert [(b["name"], b["location"]) for b in document["backups"]] == [(backup.name, "off-site")]
    backup_restore(name=backup.name)
    assert signup_rows() == backed_up


def test_store_down_keeps_backups_local_backs_off_and_catches_up(
    offsite, s3_endpoint, settings, backup_dir, s3_client
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backups = take(2)
    now = timezone.now()

    first = backup_offsite_upload_pending(now=now)

    assert first.failed == [b.name for b in backups]
    for backup in Backup.objects.all():
        assert backup.offsite_attempts == 1 and backup.offsite_at is None
        assert backup.offsite_error
        assert backup.offsite_next_try_at == now + datetime.timedelta(seconds=10)
        assert backup.location == "local"
    # Not due yet: nothing is tried; then the back-off doubles.
    assert backup_offsite_upload_pending(now=now + datetime.timedelta(seconds=5)).waiting == 2
    later = now + datetime.timedelta(seconds=11)
    backup_offsite_upload_pending(now=later)
    assert {b.offsite_attempts for b in Backup.objects.all()} == {2}
    assert {b.offsite_next_try_at for b in Backup.objects.all()} == {
        later + datetime.timedelta(seconds=20)
    }
    # Local rotation keeps what is not off-site: it is the only copy.
    assert backup_rotate(keep=1) == []
    assert {p.name for p in backup_dir.iterdir() if p.name != "journal"} == pair(backups[0]) | pair(
        backups[1]
    )
    # The worker goes on; /health/ reports the lag.
    backup_worker_pass()
    check = check_offsite(now + datetime.timedelta(seconds=400))
    assert not check.ok and "lag" in check.detail
    assert check.figures["waiting"] == 2

    use_endpoint(settings, endpoint=s3_endpoint, bucket=offsite)
    caught_up = backup_offsite_upload_pending(now=now + datetime.timedelta(hours=1))

    assert caught_up.uploaded == [b.name for b in backups]
    assert keys_in(s3_client, offsite) == pair(backups[0]) | pair(backups[1])
    assert offsite_lag_seconds() == 0
    assert check_offsite(timezone.now()).ok
    assert {(b.offsite_error, b.offsite_next_try_at) for b in Backup.objects.all()} == {("", None)}


def test_worker_pass_copies_backups_off_site(offsite, s3_client):
    backup = take(1)[0]

    backup_worker_pass()

    assert keys_in(s3_client, offsite) == pair(backup)


def test_a_forged_manifest_in_the_bucket_is_not_listed(offsite, s3_client, backup_dir):
    backup = take(1)[0]
    backup_offsite_upload_pending()
    forged_name = "backup-2030-01-01T00-00-00-000Z.sql"
    manifest = files.read_manifest(backup_dir / files.manifest_name_for(backup.name))
    manifest["name"] = forged_name
    s3_client.put_object(Bucket=offsite, Key=PREFIX + forged_name, Body=b"DROP TABLE x;\n")
    s3_client.put_object(
        Bucket=offsite,
        Key=PREFIX + files.manifest_name_for(forged_name),
        Body=json.dumps(manifest).encode(),
    )
    Backup.objects.all().delete()

    result = backup_offsite_sync()

    assert result.added == [backup.name]
    assert result.unreadable == [files.manifest_name_for(forged_name)]
    assert list(Backup.objects.values_list("name", flat=True)) == [backup.name]


def test_a_local_sync_keeps_backups_that_live_off_site_only(offsite, backup_dir):
    backup = take(1)[0]
    backup_offsite_upload_pending()
    shutil.rmtree(backup_dir)

    document = listbackups_json("--sync")

    assert document["sync"]["removed"] == []
    assert [(b["name"], b["location"]) for b in document["backups"]] == [(backup.name, "off-site")]


def test_offsite_retention_waits_while_a_backup_or_restore_runs(offsite, s3_client, settings):
    settings.BACKUP_OFFSITE_RETENTION = 1
    backups = take(2)
    backup_offsite_upload_pending()

    with get_engine().lock(timeout=1):
        assert backup_offsite_rotate() == []

    assert keys_in(s3_client, offsite) == pair(backups[0]) | pair(backups[1])
    assert backup_offsite_rotate() == [backups[0].name]


def test_a_retried_manifest_upload_is_done_and_another_backups_is_refused(
    offsite, s3_client, backup_dir
):
    backup = take(1)[0]
    manifest = backup_dir / files.manifest_name_for(backup.name)
    s3_client.put_object(Bucket=offsite, Key=PREFIX + manifest.name, Body=manifest.read_bytes())

    assert backup_offsite_upload_pending().uploaded == [backup.name]  # the same backup's

    other = take(1)[0]
    forged = files.read_manifest(backup_dir / files.manifest_name_for(other.name))
    forged["sha256"] = "0" * 64
    s3_client.put_object(
        Bucket=offsite,
        Key=PREFIX + files.manifest_name_for(other.name),
        Body=json.dumps(forged).encode(),
    )

    result = backup_offsite_upload_pending()

    assert result.failed == [other.name]
    other.refresh_from_db()
    assert other.offsite_at is None and "FileExistsError" in other.offsite_error
    stored = s3_client.get_object(Bucket=offsite, Key=PREFIX + files.manifest_name_for(other.name))
    assert json.loads(stored["Body"].read())["sha256"] == "0" * 64  # not overwritten


def test_an_interrupted_upload_is_removed_after_its_grace_period(offsite, s3_client):
    backup = take(1)[0]
    backup_offsite_upload_pending()
    lone = "backup-2030-01-01T00-00-00-000Z.sql"
    s3_client.put_object(Bucket=offsite, Key=PREFIX + lone, Body=b"half a dump")

    backup_offsite_rotate()
    assert lone in keys_in(s3_client, offsite)  # it may still be uploading

    backup_offsite_rotate(now=timezone.now() + datetime.timedelta(days=2))
    assert keys_in(s3_client, offsite) == pair(backup)


def test_a_fetch_that_fails_before_the_manifest_leaves_no_dump_under_its_name(
    offsite, backup_dir, signups
):
    backup, backed_up = only_off_site(backup_dir)
    # The manifest cannot be put in place once the dump has come down (here a folder is in
    # the way; a full disk or a killed process stops the fetch at the same point).
    manifest = backup_dir / files.manifest_name_for(backup.name)
    (manifest / "in-the-way").mkdir(parents=True)

    with pytest.raises(ValidationError, match="Could not fetch"):
        backup_offsite_fetch(name=backup.name)

    assert not (backup_dir / backup.name).exists()  # never a dump without its manifest
    assert [p.name for p in backup_dir.iterdir()] == [manifest.name]
    # Once the way is clear, a restore fetches the backup again and restores it.
    shutil.rmtree(manifest)
    backup_restore(name=backup.name)
    assert signup_rows() == backed_up


def test_a_fetch_stopped_after_the_manifest_is_not_believed_and_is_fetched_again(
    offsite, s3_client, backup_dir, signups
):
    backup, backed_up = only_off_site(backup_dir)
    # A fetch killed between putting the manifest in place and renaming the dump beside it.
    manifest = backup_dir / files.manifest_name_for(backup.name)
    backup_dir.mkdir()
    stored = s3_client.get_object(Bucket=offsite, Key=PREFIX + manifest.name)["Body"].read()
    manifest.write_bytes(stored)
    (backup_dir / f"{files.PARTIAL_PREFIX}{backup.name}.killed").write_bytes(b"half a dump")

    document = listbackups_json("--sync")

    assert document["sync"]["unreadable"] == [manifest.name]  # a manifest alone is not a backup
    [listed] = document["backups"]
    assert (listed["name"], listed["location"]) == (backup.name, "off-site")
    assert not list(backup_dir.glob(files.PARTIAL_PREFIX + "*"))  # its writer is gone
    backup_restore(name=backup.name)
    assert signup_rows() == backed_up
    assert (backup_dir / backup.name).stat().st_size == backup.size_bytes


def test_a_dump_without_its_manifest_is_fetched_again(offsite, backup_dir, signups):
    backup, backed_up = taken_and_uploaded()
    (backup_dir / files.manifest_name_for(backup.name)).unlink()
    Signup.objects.all().delete()

    backup_restore(name=backup.name)

    assert signup_rows() == backed_up
    assert (backup_dir / files.manifest_name_for(backup.name)).is_file()
