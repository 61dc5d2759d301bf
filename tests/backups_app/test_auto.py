"""Automatic backups after signups: the receiver, the queue and the worker (§4.6)."""

import datetime

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from backups_app.engines import get_engine
from backups_app.models import Backup, PendingBackupRequest
from backups_app.request_buffer import request_buffer
from backups_app.services import backup_create, backup_requests_flush, backup_worker_pass
from tests.backups_app.conftest import write_script
from tests.factories import SignupFactory
from tests.threads import run_together
from tests.waiting import wait_until
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def test_signup_through_the_view_leads_to_an_auto_backup_that_holds_it(backup_dir):
    response = Client().post("/", {"full_name": "Zoë", "email": "zoe@example.com", "consent": "on"})
    assert response.status_code == 302
    backup_requests_flush()
    request = PendingBackupRequest.objects.get()
    assert request.signup_id == Signup.objects.get().pk

    result = backup_worker_pass(now=later(6))

    assert result.action == "backed-up"
    backup = result.backup
    assert backup.kind == Backup.Kind.AUTO
    assert backup.row_counts["waitlist_responses"] == 1
    assert "zoe@example.com" in (backup_dir / backup.name).read_text()
    request.refresh_from_db()
    assert request.covered_by == backup.name
    assert request.covered_at is not None


def test_rolled_back_signup_queues_nothing(backup_dir):
    with pytest.raises(RuntimeError), transaction.atomic():
        SignupFactory()
        raise RuntimeError("the request failed after the insert")

    assert backup_requests_flush() == 0
    assert PendingBackupRequest.objects.count() == 0
    assert Signup.objects.count() == 0


def test_editing_a_signup_queues_nothing(backup_dir):
    signup = SignupFactory()
    backup_requests_flush()
    PendingBackupRequest.objects.all().delete()

    signup.city = "Madurai"
    signup.save()

    assert backup_requests_flush() == 0


def test_fifty_signups_then_one_pass_make_one_backup_covering_all(backup_dir):
    SignupFactory.create_batch(50)
    assert backup_requests_flush() == 50
    assert PendingBackupRequest.objects.filter(covered_at__isnull=True).count() == 50

    result = backup_worker_pass(now=later(6))

    assert result.action == "backed-up"
    assert Backup.objects.count() == 1
    assert result.backup.row_counts["waitlist_responses"] == 50
    assert set(PendingBackupRequest.objects.values_list("covered_by", flat=True)) == {
        result.backup.name
    }
    assert backup_worker_pass(now=later(7)).action == "restore-tested"
    assert backup_worker_pass(now=later(8)).action == "idle"
    assert Backup.objects.count() == 1


def queue_at(moment: datetime.datetime, n: int) -> None:
    """A signup and its request, as if made at `moment`."""
    signup = Signup.objects.bulk_create(
        [Signup(full_name=f"Fan {n}", email=f"fan{n}@example.com", consent=True, created_at=moment)]
    )[0]
    PendingBackupRequest.objects.create(signup_id=signup.pk, requested_at=moment)


def test_debounce_waits_for_a_quiet_moment(backup_dir, settings):
    settings.BACKUP_DEBOUNCE_SECONDS = 5
    settings.BACKUP_MAX_DELAY_SECONDS = 60
    start = timezone.now()
    queue_at(start, 1)

    assert backup_worker_pass(now=start + datetime.timedelta(seconds=4.9)).action == "waiting"
    queue_at(start + datetime.timedelta(seconds=4), 2)
    assert backup_worker_pass(now=start + datetime.timedelta(seconds=8.9)).action == "waiting"

    result = backup_worker_pass(now=start + datetime.timedelta(seconds=9))

    assert result.action == "backed-up"
    assert result.detail == "debounce"


def test_max_delay_backs_up_a_steady_trickle(backup_dir, settings):
    settings.BACKUP_DEBOUNCE_SECONDS = 5
    settings.BACKUP_MAX_DELAY_SECONDS = 60
    start = timezone.now()
    for second in range(0, 60, 3):  # never 5 s of quiet
        queue_at(start + datetime.timedelta(seconds=second), second)
        assert backup_worker_pass(now=start + datetime.timedelta(seconds=second)).action == (
            "waiting"
        )

    result = backup_worker_pass(now=start + datetime.timedelta(seconds=60))

    assert result.action == "backed-up"
    assert result.detail == "max-delay"
    assert result.backup.row_counts["waitlist_responses"] == 20


def test_two_workers_at_once_make_one_dump_and_cover_each_request_once(backup_dir):
    SignupFactory.create_batch(20)
    results = []

    def work():
        results.append(backup_worker_pass(now=later(6)))

    run_together(work, work)

    actions = sorted(r.action for r in results)
    assert actions.count("backed-up") == 1, actions
    assert Backup.objects.count() == 1
    backup = Backup.objects.get()
    assert list(PendingBackupRequest.objects.values_list("covered_by", flat=True)) == (
        [backup.name] * 20
    )


def test_any_backup_covers_the_requests_its_snapshot_saw(backup_dir):
    SignupFactory.create_batch(3)
    backup_requests_flush()

    manual = backup_create(kind=Backup.Kind.MANUAL)

    assert set(PendingBackupRequest.objects.values_list("covered_by", flat=True)) == {manual.name}
    assert backup_worker_pass(now=later(6)).action != "backed-up"


def test_a_lost_request_is_still_backed_up(backup_dir):
    backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory()
    request_buffer._items.clear()  # lost with its process before the flush

    result = backup_worker_pass(now=later(6))

    assert result.action == "backed-up"
    assert result.backup.row_counts["waitlist_responses"] == 1


def test_failed_dump_is_recorded_mailed_retried_later_and_keeps_older_backups(
    backup_dir, settings, mailoutbox
):
    older = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory()
    failing = str(write_script(backup_dir.parent / "failing-tool", "exit 3\n"))
    settings.BACKUP_PG_DUMP = settings.BACKUP_SQLITE3 = failing
    start = timezone.now()

    failed = backup_worker_pass(now=start + datetime.timedelta(seconds=6))

    assert failed.action == "failed"
    assert Backup.objects.filter(status=Backup.Status.FAILED).count() == 1
    assert any("failed" in m.subject for m in mailoutbox)
    assert PendingBackupRequest.objects.filter(covered_at__isnull=True).count() == 1
    assert (backup_dir / older.name).exists()
    assert backup_worker_pass(now=start + datetime.timedelta(seconds=8)).action == "backing-off"

    settings.BACKUP_PG_DUMP = "pg_dump"
    settings.BACKUP_SQLITE3 = "sqlite3"
    retried = backup_worker_pass(now=timezone.now() + datetime.timedelta(seconds=30))

    assert retried.action == "backed-up"
    assert PendingBackupRequest.objects.filter(covered_at__isnull=True).count() == 0


def test_idle_worker_takes_a_scheduled_backup_when_the_newest_is_old(backup_dir, settings):
    settings.BACKUP_SCHEDULE_SECONDS = 3600
    backup_create(kind=Backup.Kind.MANUAL)

    assert backup_worker_pass(now=later(60)).action in {"idle", "restore-tested"}
    result = backup_worker_pass(now=later(3700))

    assert result.action == "backed-up"
    assert result.backup.kind == Backup.Kind.SCHEDULED


def test_idle_worker_restore_tests_the_newest_backup_daily(backup_dir, settings):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    result = backup_worker_pass(now=later(10))

    assert result.action == "restore-tested"
    backup.refresh_from_db()
    assert backup.restore_tested and backup.verification_ok
    assert backup_worker_pass(now=later(20)).action == "idle"


def test_idle_worker_leaves_the_restore_test_for_later_while_the_lock_is_held(backup_dir):
    backup_create(kind=Backup.Kind.MANUAL)

    with get_engine().lock(timeout=1):
        result = backup_worker_pass(now=later(10))

    assert result.action == "busy"
    assert not Backup.objects.filter(restore_tested=True).exists()
    assert backup_worker_pass(now=later(20)).action == "restore-tested"


def test_worker_pass_marks_a_killed_backup_failed_and_tells_admins(backup_dir, mailoutbox):
    killed = Backup.objects.create(
        name="backup-2001-01-01T00-00-00-000Z.sql", kind="auto", vendor=connection.vendor
    )
    (backup_dir).mkdir(parents=True, exist_ok=True)
    (backup_dir / killed.name).write_text("-- the start of a dump, and no manifest")

    result = backup_worker_pass(now=later(6))

    killed.refresh_from_db()
    assert killed.status == Backup.Status.FAILED
    assert result.leftovers.interrupted == [killed.name]
    assert not (backup_dir / killed.name).exists()
    assert [m.subject for m in mailoutbox] == [f"[Django] Backup {killed.name} was interrupted"]


def test_every_automatic_backup_is_checksum_verified(backup_dir):
    SignupFactory.create_batch(3)

    result = backup_worker_pass(now=later(6))

    result.backup.refresh_from_db()
    assert result.backup.verification_ok is True
    assert result.backup.verified_at is not None


def test_background_thread_writes_buffered_requests_within_a_moment(backup_dir):
    request_buffer.background = True
    try:
        SignupFactory.create_batch(3)
        wait_until(
            lambda: PendingBackupRequest.objects.count() >= 3,
            what="the background thread to write 3 requests",
            seconds=5,
        )
    finally:
        request_buffer.background = False
        request_buffer.stop()

    assert PendingBackupRequest.objects.count() == 3


def test_requests_are_kept_when_the_database_refuses_them(backup_dir):
    from django.db import connection

    SignupFactory()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE backups_app_pendingbackuprequest RENAME TO away")
    try:
        assert backup_requests_flush() == 0
        assert len(request_buffer._items) == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE away RENAME TO backups_app_pendingbackuprequest")

    assert backup_requests_flush() == 1
    assert PendingBackupRequest.objects.count() == 1
