"""With the journal on, automatic dumps after signups are spaced by their size (§11)."""

import datetime

import pytest
from django.utils import timezone

from backups_app.models import Backup
from backups_app.services import backup_create, backup_requests_flush, backup_worker_pass
from backups_app.services.auto import spacing_wait_until
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def large_newest_backup(backup_dir, settings):
    """A backup begun 100 s ago that the catalogue says is 1 GiB, then a signup waiting past
    the max delay and the debounce."""
    settings.BACKUP_AUTO_BYTES_PER_HOUR = 4 * 1024**3  # 1 GiB -> 900 s, capped at RPO / 2
    settings.BACKUP_RPO_SECONDS = 600
    backup = backup_create(kind=Backup.Kind.MANUAL)
    began = timezone.now() - datetime.timedelta(seconds=100)
    Backup.objects.filter(pk=backup.pk).update(size_bytes=1024**3, started_at=began)
    SignupFactory()
    backup_requests_flush()
    return backup


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def test_a_large_backup_spaces_the_next_one_up_to_half_the_rpo(large_newest_backup):
    backup = Backup.objects.get(pk=large_newest_backup.pk)
    assert spacing_wait_until(later(0)) == backup.started_at + datetime.timedelta(seconds=300)
    assert backup_worker_pass(now=later(100)).action == "waiting"
    assert backup_worker_pass(now=later(201)).action == "backed-up"


def test_without_the_journal_the_signups_are_backed_up_at_the_max_delay(
    large_newest_backup, settings
):
    settings.BACKUP_JOURNAL = False
    assert spacing_wait_until(later(0)) is None
    assert backup_worker_pass(now=later(100)).action == "backed-up"


def test_a_small_list_is_not_slowed(backup_dir):
    SignupFactory()
    backup_create(kind=Backup.Kind.MANUAL)
    assert spacing_wait_until(later(1)) is None  # 17 KB: a wait of 15 ms
