"""Reads of the backup catalogue and of BACKUP_DIR (selectors.py), on real SQLite and PostgreSQL."""

import pytest
from django.core.exceptions import ValidationError

from backups_app import files
from backups_app.models import Backup
from backups_app.selectors import backup_dump_get, backup_local_names, backup_recent
from backups_app.services import backup_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_backup_recent_lists_succeeded_backups_newest_first_up_to_the_limit(signups):
    oldest = backup_create(kind=Backup.Kind.MANUAL)
    middle = backup_create(kind=Backup.Kind.MANUAL)
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)
    newest = backup_create(kind=Backup.Kind.MANUAL)

    assert backup_recent(limit=2) == [newest, middle]
    assert backup_recent(limit=50) == [newest, middle, oldest]


def test_backup_local_names_are_the_dumps_in_backup_dir_and_nothing_else(signups, backup_dir):
    kept = backup_create(kind=Backup.Kind.MANUAL)
    gone = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / gone.name).unlink()
    (backup_dir / "notes.txt").write_text("not a backup")
    (backup_dir / "backup-2001-01-01T00-00-00-000Z.sql").mkdir()  # a folder, not a dump

    assert backup_local_names() == {kept.name}


def test_backup_local_names_is_empty_before_backup_dir_exists(backup_dir):
    assert not backup_dir.exists()
    assert backup_local_names() == set()


def test_backup_dump_get_gives_a_succeeded_backup_and_its_dump(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    found, dump = backup_dump_get(backup_id=backup.pk)

    assert found == backup
    assert dump == (backup_dir / backup.name).resolve()


def test_backup_dump_get_knows_no_unknown_or_unsucceeded_backup(signups):
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)

    with pytest.raises(Backup.DoesNotExist):
        backup_dump_get(backup_id=failed.pk + 1000)
    with pytest.raises(Backup.DoesNotExist):
        backup_dump_get(backup_id=failed.pk)


def test_backup_dump_get_refuses_a_backup_whose_dump_is_not_on_disk(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / backup.name).unlink()  # as when only its off-site copy is left

    with pytest.raises(ValidationError, match="No backup named"):
        backup_dump_get(backup_id=backup.pk)
    assert (backup_dir / files.manifest_name_for(backup.name)).is_file()
