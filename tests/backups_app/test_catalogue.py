"""The catalogue as an index over the signed manifests (§4.2): rebuilt from disk, pinned and
unpinned through the manifest, and never listing what our keys do not vouch for."""

import pytest
from django.utils import timezone

from backups_app import files
from backups_app.exceptions import SignatureError
from backups_app.models import Backup
from backups_app.services import backup_catalogue_sync, backup_create, backup_verify
from backups_app.services.catalogue import backup_pin, backup_pin_selected
from tests.backups_app.conftest import lose_manifest
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_lists_every_backup_on_disk_and_drops_entries_whose_files_are_gone(
    signups, backup_dir
):
    kept, gone = backup_create(kind=Backup.Kind.MANUAL), backup_create(kind=Backup.Kind.MANUAL)
    files.remove_backup(gone.name)
    Backup.objects.filter(pk=kept.pk).delete()

    result = backup_catalogue_sync()

    assert (result.added, result.updated, result.removed) == ([kept.name], [], [gone.name])
    assert list(Backup.objects.values_list("name", flat=True)) == [kept.name]
    assert Backup.objects.get().row_counts == kept.row_counts


def test_sync_keeps_a_backup_whose_only_copy_is_off_site(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=backup.pk).update(offsite_at=timezone.now())
    files.remove_backup(backup.name)

    result = backup_catalogue_sync()

    assert result.removed == []
    assert Backup.objects.filter(name=backup.name).exists()


def test_sync_reports_a_manifest_that_names_another_backup_and_lists_neither_twice(
    signups, backup_dir
):
    first, second = backup_create(kind=Backup.Kind.MANUAL), backup_create(kind=Backup.Kind.MANUAL)
    swapped = backup_dir / files.manifest_name_for(first.name)
    swapped.write_bytes((backup_dir / files.manifest_name_for(second.name)).read_bytes())

    result = backup_catalogue_sync()

    assert result.unreadable == [swapped.name]
    assert result.updated == [second.name]
    assert result.removed == [first.name]


def test_verification_result_survives_a_rebuilt_catalogue(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=backup, restore_test=True)
    Backup.objects.all().delete()
    SignupFactory()

    backup_catalogue_sync()

    rebuilt = Backup.objects.get(name=backup.name)
    assert rebuilt.verification_ok is True
    assert rebuilt.restore_seconds is not None


def test_pin_and_unpin_say_who_in_the_manifest_and_survive_a_rebuilt_catalogue(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    backup_pin(backup=backup, pinned=True, by="admin:grace")
    Backup.objects.all().delete()
    backup_catalogue_sync()
    rebuilt = Backup.objects.get(name=backup.name)
    assert rebuilt.pinned and rebuilt.pin_reason == "pinned by admin:grace"

    backup_pin(backup=rebuilt, pinned=False, by="admin:grace")
    assert files.read_manifest(backup_dir / files.manifest_name_for(backup.name))["pinned"] is False
    unpinned = Backup.objects.get(name=backup.name)
    assert not unpinned.pinned and unpinned.pin_reason == ""


def test_pin_of_an_unsigned_manifest_is_refused_and_writes_nothing(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    path = backup_dir / files.manifest_name_for(backup.name)
    manifest = files.read_manifest(path)
    del manifest["signature"]
    files.write_manifest(path, manifest)
    before = path.read_bytes()

    with pytest.raises(SignatureError, match="is not signed"):
        backup_pin(backup=backup, pinned=True, by="ops")

    assert path.read_bytes() == before
    assert not Backup.objects.get(pk=backup.pk).pinned


def test_pin_selected_pins_the_succeeded_backups_and_says_which_it_could_not(signups, backup_dir):
    good = backup_create(kind=Backup.Kind.MANUAL)
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)
    unpinnable = backup_create(kind=Backup.Kind.MANUAL)
    lose_manifest(backup_dir, unpinnable)

    result = backup_pin_selected(
        backups=list(Backup.objects.order_by("started_at")), pinned=True, by="ops"
    )

    assert result.done == [good]
    assert result.refused == {
        unpinnable.name: f"The manifest {files.manifest_name_for(unpinnable.name)} is missing."
    }
    good.refresh_from_db()
    assert good.pinned and good.manifest["pin_reason"] == "pinned by ops"
    assert not Backup.objects.get(pk=failed.pk).pinned
    assert not Backup.objects.get(pk=unpinnable.pk).pinned
