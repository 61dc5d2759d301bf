"""Verification: checksum, completeness and the restore test with its measured time (§4.4)."""

import json

import pytest

from backups_app import files
from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services import (
    backup_create,
    backup_restore_test_latest,
    backup_verify,
    backup_verify_selected,
)
from backups_app.signing import manifest_sign
from tests.backups_app.conftest import flip_a_byte
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_good_backup_verifies(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    result = backup_verify(backup=backup)

    assert result.ok, result.problems
    backup.refresh_from_db()
    assert backup.verification_ok is True
    assert backup.verified_at is not None
    manifest = json.loads((backup_dir / files.manifest_name_for(backup.name)).read_text())
    assert manifest["verification"]["ok"] is True


def test_restore_test_compares_counts_and_records_the_restore_time(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()  # the live data must play no part

    result = backup_verify(backup=backup, restore_test=True)

    assert result.ok, result.problems
    assert result.restore_seconds > 0
    backup.refresh_from_db()
    assert backup.restore_seconds == result.restore_seconds
    assert "restore test passed" in backup.verification_detail
    assert Signup.objects.count() == 0


def test_restore_test_leaves_no_scratch_database_behind(signups, backup_dir):
    from django.db import connection

    backup = backup_create(kind=Backup.Kind.MANUAL)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE '%%_scratch_%%'")
            before = cursor.fetchone()[0]

    backup_verify(backup=backup, restore_test=True)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE '%%_scratch_%%'")
            assert cursor.fetchone()[0] == before
    else:
        from pathlib import Path

        folder = Path(connection.settings_dict["NAME"]).parent
        assert not list(folder.glob(".restore-*"))


def test_restore_test_catches_a_dump_that_does_not_match_its_counts(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    path = backup_dir / files.manifest_name_for(backup.name)
    manifest = json.loads(path.read_text())
    manifest["row_counts"]["waitlist_responses"] = 4
    manifest_sign(manifest)  # as a bug in this site would: the restore test still catches it
    path.write_text(json.dumps(manifest))

    result = backup_verify(backup=backup, restore_test=True)

    assert not result.ok
    assert "waitlist_responses has 3 rows, expected 4" in result.detail


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[: len(data) // 2], "truncated or replaced"),
        (lambda data: data.replace(b"Grace", b"Gr4ce"), "does not match its SHA-256"),
        (lambda data: b"", "is empty"),
    ],
)
def test_damaged_backup_fails_verification_and_admins_hear_of_it(
    signups, backup_dir, mailoutbox, damage, problem
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    dump = backup_dir / backup.name
    dump.write_bytes(damage(dump.read_bytes()))

    result = backup_verify(backup=backup)

    assert not result.ok
    assert problem in result.detail
    backup.refresh_from_db()
    assert backup.verification_ok is False
    assert any("failed verification" in m.subject for m in mailoutbox)


def test_missing_dump_fails_verification(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / backup.name).unlink()

    result = backup_verify(backup=backup)

    assert not result.ok
    assert "No backup named" in result.detail


def test_corrupt_gzip_fails_verification(signups, backup_dir, settings):
    settings.BACKUP_COMPRESSION = "gzip"
    backup = backup_create(kind=Backup.Kind.MANUAL)
    flip_a_byte(backup_dir, backup, mask=0xFF)

    result = backup_verify(backup=backup)

    assert not result.ok


def test_restore_test_holds_the_backup_lock_and_says_when_it_is_busy(
    signups, backup_dir, mailoutbox
):
    """The clean-up of killed operations runs only while nobody holds the lock, so a restore
    test's scratch database is never taken for a leftover."""
    backup = backup_create(kind=Backup.Kind.MANUAL)

    with get_engine().lock(timeout=1):
        result = backup_verify(backup=backup, restore_test=True, lock_timeout=0.2)

    assert result.busy
    assert not result.ok
    assert "Another backup or restore is running" in result.detail
    backup.refresh_from_db()
    assert backup.verified_at is None  # nothing recorded against a good backup
    assert mailoutbox == []
    assert backup_verify(backup=backup, restore_test=True).ok


def test_verify_selected_verifies_the_succeeded_backups_of_a_selection_in_order(
    signups, backup_dir, mailoutbox
):
    first = backup_create(kind=Backup.Kind.MANUAL)
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED, error="disk full")
    failed.refresh_from_db()
    second = backup_create(kind=Backup.Kind.MANUAL)

    results = backup_verify_selected(backups=[second, failed, first], restore_test=True)

    assert [(r.name, r.ok, r.restore_tested) for r in results] == [
        (second.name, True, True),
        (first.name, True, True),
    ]
    failed.refresh_from_db()
    assert failed.verified_at is None  # a failed entry is left alone, and nobody is told
    assert mailoutbox == []


def test_verify_selected_of_nothing_succeeded_verifies_nothing(signups, backup_dir):
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)

    assert backup_verify_selected(backups=list(Backup.objects.all())) == []


def test_restore_test_latest_tests_the_newest_backup_only(signups, backup_dir):
    assert backup_restore_test_latest() is None  # nothing to test yet
    older = backup_create(kind=Backup.Kind.MANUAL)
    newest = backup_create(kind=Backup.Kind.MANUAL)
    failed = backup_create(kind=Backup.Kind.MANUAL)  # newer, but it failed: nothing to test
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)

    result = backup_restore_test_latest()

    assert (result.name, result.ok) == (newest.name, True)
    newest.refresh_from_db()
    older.refresh_from_db()
    assert newest.restore_tested and newest.verification_ok
    assert not older.restore_tested
    assert not Backup.objects.get(pk=failed.pk).restore_tested
