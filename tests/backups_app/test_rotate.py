"""Retention (§4.3): what rotation deletes, and what it always keeps."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups_app.models import Backup
from backups_app.services import backup_create, backup_rotate, backup_verify
from backups_app.services.catalogue import manifest_update
from tests.backups_app.conftest import take
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def files_on_disk(backup_dir) -> set[str]:
    return {p.name for p in backup_dir.iterdir() if p.name != "journal"}


def test_rotation_keeps_the_newest_and_deletes_dump_and_manifest_together(signups, backup_dir):
    backups = take(5)

    deleted = backup_rotate(keep=3)

    assert [b.name for b in deleted] == [backups[1].name, backups[0].name]
    kept = backups[2:]
    expected = {b.name for b in kept} | {b.name.replace(".sql", ".manifest.json") for b in kept}
    assert files_on_disk(backup_dir) == expected
    assert set(Backup.objects.values_list("name", flat=True)) == {b.name for b in kept}


def test_dry_run_deletes_nothing(signups, backup_dir):
    take(4)
    before = files_on_disk(backup_dir)

    would = backup_rotate(keep=2, dry_run=True)

    assert len(would) == 2
    assert files_on_disk(backup_dir) == before
    assert Backup.objects.count() == 4


def test_pinned_backups_survive_rotation(signups, backup_dir):
    pinned = backup_create(kind=Backup.Kind.MANUAL, pin=True)
    take(3)

    backup_rotate(keep=1)

    assert (backup_dir / pinned.name).exists()
    assert Backup.objects.filter(name=pinned.name).exists()
    assert Backup.objects.count() == 2


def test_newest_verified_backup_survives_rotation(signups, backup_dir):
    verified = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=verified)
    take(3)

    backup_rotate(keep=1)

    assert (backup_dir / verified.name).exists()
    assert Backup.objects.count() == 2


def test_default_keep_is_backup_retention(signups, backup_dir, settings):
    settings.BACKUP_RETENTION = 2
    take(4)

    backup_rotate()

    assert Backup.objects.count() == 2


def test_keeping_no_backup_is_refused_and_deletes_nothing(signups, backup_dir):
    take(2)

    with pytest.raises(CommandError, match="--keep: keep at least one backup"):
        call_command("rotatebackups", "--keep", "0")
    with pytest.raises(CommandError, match="Rotation must keep at least one backup"):
        call_command("rotatebackups", keep=0)

    assert Backup.objects.count() == 2
    assert len(files_on_disk(backup_dir)) == 4


def test_failed_backups_leave_rotation_alone(signups, backup_dir):
    take(2)
    Backup.objects.create(name="backup-2001-01-01T00-00-00-000Z.sql", kind="auto", status="failed")

    deleted = backup_rotate(keep=1)

    assert len(deleted) == 1
    assert Backup.objects.filter(status="failed").count() == 1


def test_the_last_backup_before_a_shrink_survives_rotation_even_unpinned(signups, backup_dir):
    good = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    backup_create(kind=Backup.Kind.AUTO)
    good.refresh_from_db()
    manifest_update(backup=good, pinned=False, pin_reason="")  # someone unpinned it
    take(3)

    backup_rotate(keep=1)

    assert Backup.objects.filter(name=good.name).exists()
    assert (backup_dir / good.name).exists()
