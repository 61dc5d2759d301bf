"""With the journal on, automatic dumps after signups are spaced by their size (§11)."""

import datetime

import pytest
from django.utils import timezone

from backups_app.models import Backup
from backups_app.selectors import spacing_wait_until
from backups_app.services import backup_create, backup_requests_flush, backup_worker_pass
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def large_newest_backup(backup_dir, settings):
    """A backup begun 100 s ago that the catalogue says is 1 GiB, then a signup waiting past
    the max delay and the debounce."""
    settings.BACKUP_AUTO_BYTES_PER_HOUR = 4 * 1024**3  # 1 GiB of dump -> 900 s apart
    settings.BACKUP_RPO_SECONDS = 300
    backup = backup_create(kind=Backup.Kind.MANUAL)
    began = timezone.now() - datetime.timedelta(seconds=100)
    Backup.objects.filter(pk=backup.pk).update(size_bytes=1024**3, started_at=began)
    SignupFactory()
    backup_requests_flush()
    return backup


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def test_a_large_backup_spaces_the_next_one_by_its_size(large_newest_backup):
    backup = Backup.objects.get(pk=large_newest_backup.pk)
    assert spacing_wait_until(now=later(0)) == backup.started_at + datetime.timedelta(seconds=900)
    assert backup_worker_pass(now=later(100)).action == "waiting"
    assert backup_worker_pass(now=later(801)).action == "backed-up"


def test_health_allows_for_the_spacing_since_the_signups_are_journalled(large_newest_backup):
    from backups_app.health import check_rpo

    # The signup has waited 500 s: past the RPO (300 s), within it plus the spacing (900 s).
    assert check_rpo(later(500)).ok
    assert not check_rpo(later(1300)).ok


def test_the_default_budget_keeps_a_million_signups_within_the_minute(backup_dir, settings):
    from backups_app.selectors import spacing_seconds

    del settings.BACKUP_AUTO_BYTES_PER_HOUR  # the default: 16 GiB an hour
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup.size_bytes = 120 * 1024**2  # a 1,000,000-signup dump on PostgreSQL
    assert spacing_seconds(newest=backup) < 30
    backup.size_bytes = 1700 * 1024**2  # ten million
    assert 300 < spacing_seconds(newest=backup) < 400


def test_without_the_journal_the_signups_are_backed_up_at_the_max_delay(
    large_newest_backup, settings
):
    settings.BACKUP_JOURNAL = False
    assert spacing_wait_until(now=later(0)) is None
    assert backup_worker_pass(now=later(100)).action == "backed-up"


def test_a_small_list_is_not_slowed(backup_dir):
    SignupFactory()
    backup_create(kind=Backup.Kind.MANUAL)
    assert spacing_wait_until(now=later(1)) is None  # 17 KB: a wait of 15 ms
