"""`listbackups --sync --offsite`: the catalogue and the signup journal back from off-site in one
service call (`backup_offsite_rebuild`), and one clear line when that cannot be done."""

import shutil

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from backups_app import conf, files
from backups_app.models import Backup
from backups_app.services import backup_create
from backups_app.services.journal import journal_close
from backups_app.services.journal_offsite import journal_offsite_ship
from backups_app.services.offsite import backup_offsite_rebuild
from tests.backups_app.offsite.conftest import (
    closed_port_url,
    segment_names,
    taken_and_uploaded,
    use_endpoint,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_rebuild_syncs_the_disk_then_the_bucket_and_fetches_the_journal(offsite, backup_dir):
    uploaded, _ = taken_and_uploaded()
    journal_close()
    journal_offsite_ship()
    segments = segment_names(backup_dir)
    local_only = backup_create(kind=Backup.Kind.MANUAL)  # never uploaded
    # This machine lost the uploaded backup's files, its journal and its whole catalogue.
    remove_files_of(backup_dir, uploaded)
    shutil.rmtree(backup_dir / "journal")
    Backup.objects.all().delete()

    rebuilt = backup_offsite_rebuild()

    assert rebuilt.local.added == [local_only.name]
    assert rebuilt.offsite.added == [uploaded.name]
    assert sorted(rebuilt.journal_fetched) == segments == segment_names(backup_dir)
    assert {backup.name: backup.location for backup in Backup.objects.all()} == {
        local_only.name: "local",
        uploaded.name: "off-site",
    }


def test_rebuild_with_off_site_copies_off_says_so_and_changes_nothing(
    settings, backup_dir, signups
):
    settings.STORAGES = {
        k: v for k, v in settings.STORAGES.items() if k != conf.OFFSITE_STORAGE_ALIAS
    }
    backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.all().delete()
    on_disk = sorted(backup_dir.rglob("*"))

    with pytest.raises(ValidationError, match="Off-site copies are off"):
        backup_offsite_rebuild()
    with pytest.raises(CommandError, match="Off-site copies are off"):
        call_command("listbackups", "--sync", "--offsite")

    assert not Backup.objects.exists()  # refused before even the local sync
    assert sorted(backup_dir.rglob("*")) == on_disk


def test_rebuild_with_the_store_down_keeps_the_local_sync_and_says_so(
    offsite, settings, backup_dir
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.all().delete()

    with pytest.raises(ValidationError, match="The off-site store cannot be read"):
        backup_offsite_rebuild()
    assert Backup.objects.get().name == backup.name  # what the local sync did stays done
    with pytest.raises(CommandError, match="The off-site store cannot be read"):
        call_command("listbackups", "--sync", "--offsite")


def remove_files_of(backup_dir, backup: Backup) -> None:
    for name in (backup.name, files.manifest_name_for(backup.name)):
        (backup_dir / name).unlink()
