"""The scheduled jobs: every CRONJOBS entry imports and runs (§4.6)."""

import pytest
from django.utils.module_loading import import_string

from backups_app import cron
from backups_app.models import Backup, Export
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_cronjob_runs_and_does_its_job(backup_dir, settings):
    settings.BACKUP_DEBOUNCE_SECONDS = 0
    signup = SignupFactory()
    schedules = {}
    for schedule, path, *rest in settings.CRONJOBS:
        assert len(schedule.split()) == 5, path
        schedules[path] = schedule
        job = import_string(path)
        job(*(rest[0] if rest else []), **(rest[1] if len(rest) > 1 else {}))

    # The queue pass took a backup holding the signup, and the daily test restored it.
    newest = Backup.objects.filter(status=Backup.Status.SUCCEEDED).latest("started_at")
    assert newest.newest_signup_id == signup.pk
    assert newest.restore_tested and newest.verification_ok
    # The weekly export wrote every signup, and says who took it.
    export = Export.objects.get()
    assert (export.row_count, export.triggered_by) == (1, "cron")
    # The queue every minute, the rest on their own schedules.
    assert schedules["backups_app.cron.backup_queue"] == "* * * * *"
    assert set(schedules) == {
        "backups_app.cron.backup_queue",
        "backups_app.cron.backup_scheduled",
        "backups_app.cron.backup_rotation",
        "backups_app.cron.backup_daily_restore_test",
        "backups_app.cron.weekly_export",
    }


def test_rotation_job_applies_retention(backup_dir, settings):
    settings.BACKUP_RETENTION = 1
    SignupFactory()
    settings.BACKUP_SCHEDULE_SECONDS = 0
    cron.backup_scheduled()
    cron.backup_scheduled()

    cron.backup_rotation()

    assert Backup.objects.count() == 1


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
