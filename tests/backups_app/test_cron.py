"""The scheduled jobs: every CRONJOBS entry imports and runs (§4.6)."""

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from backups_app import cron
from backups_app.models import Backup
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_cronjob_imports_and_runs(backup_dir):
    SignupFactory()
    assert len(settings.CRONJOBS) >= 4
    for schedule, path, *rest in settings.CRONJOBS:
        assert len(schedule.split()) == 5
        job = import_string(path)
        job(*(rest[0] if rest else []), **(rest[1] if len(rest) > 1 else {}))

    assert Backup.objects.filter(status=Backup.Status.SUCCEEDED).exists()


def test_scheduled_job_backs_up_when_the_newest_is_old(backup_dir, settings):
    settings.BACKUP_SCHEDULE_SECONDS = 0

    cron.backup_scheduled()

    assert Backup.objects.get().kind == Backup.Kind.SCHEDULED


def test_daily_restore_test_records_the_result(backup_dir):
    SignupFactory()
    cron.backup_scheduled()

    cron.backup_daily_restore_test()

    backup = Backup.objects.get()
    assert backup.restore_tested
    assert backup.verification_ok


def test_daily_restore_test_without_backups_does_nothing(backup_dir):
    cron.backup_daily_restore_test()

    assert not Backup.objects.exists()
