"""A full disk under BACKUP_DIR, on a real (small, tmpfs) file system (docs/spec.md §4.1, §9).

Whenever the room runs out, `manage.py backup` says so in one line ("No space left on device",
not a puzzle about completion markers), leaves nothing under a backup's name, and touches
neither the older backups nor the data.
"""

import hashlib
import secrets

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import Backup
from tests.factories import SignupFactory
from waitlist.models import Signup

SIGNUPS = 2000


@pytest.fixture
def backup_folder(settings, small_disk):
    """BACKUP_DIR on the small disk, with one good backup of SIGNUPS signups in it already."""
    folder = small_disk.mountpoint / "backups"
    settings.BACKUP_DIR = folder
    settings.EXPORT_DIR = small_disk.mountpoint.parent / "exports"
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 5
    settings.BACKUP_COMPRESSION = "none"
    settings.ADMINS = [("Ops", "ops@example.com")]
    # Hex text does not compress much: the gzip dump is too big for the room left, too.
    Signup.objects.bulk_create(
        SignupFactory.build(email=f"fan{n}@example.com", message=secrets.token_hex(150))
        for n in range(SIGNUPS)
    )
    call_command("backup", verbosity=0)
    return folder


def snapshot(folder) -> dict[str, str]:
    """Every file in the backup folder and the SHA-256 of its content."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}


def signup_rows() -> list[tuple]:
    return list(Signup.objects.order_by("id").values_list())


def backup_error() -> str:
    """`manage.py backup`, which must fail: its error message."""
    with pytest.raises(CommandError) as failure:
        call_command("backup", verbosity=0)
    return str(failure.value)


def assert_failed_cleanly(message: str, folder, before: dict[str, str], rows, mailoutbox):
    assert "No space left on device" in message
    assert "completion marker" not in message
    assert "\n" not in message
    # The older backup is byte for byte what it was, and nothing else is there.
    assert snapshot(folder) == before
    assert signup_rows() == rows
    failed = Backup.objects.get(status=Backup.Status.FAILED)
    assert "No space left on device" in failed.error
    assert not (folder / failed.name).exists()
    assert Backup.objects.filter(status=Backup.Status.SUCCEEDED).count() == 1
    assert any(failed.name in mail.subject for mail in mailoutbox)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_disk_full_during_the_dump_says_so(
    backup_folder, small_disk, settings, compression, mailoutbox
):
    settings.BACKUP_COMPRESSION = compression
    before = snapshot(backup_folder)
    rows = signup_rows()
    small_disk.fill(leave=64 * 1024)

    message = backup_error()

    assert_failed_cleanly(message, backup_folder, before, rows, mailoutbox)


@pytest.mark.sqlite_only
@pytest.mark.django_db(transaction=True)
def test_disk_full_during_the_dump_without_the_sqlite3_shell_says_so(
    backup_folder, small_disk, settings, mailoutbox
):
    settings.BACKUP_SQLITE3 = "/nonexistent/sqlite3"  # the Python fallback writes the dump
    before = snapshot(backup_folder)
    rows = signup_rows()
    small_disk.fill(leave=64 * 1024)

    message = backup_error()

    assert_failed_cleanly(message, backup_folder, before, rows, mailoutbox)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_disk_full_when_the_manifest_is_written_says_so(
    backup_folder, small_disk, settings, compression, mailoutbox
):
    """Room for the dump's file, none for its manifest's.

    The room runs out exactly between the two by inodes: the disk takes one more file (the
    dump's), whose bytes fit. Bytes alone cannot place it there, since with gzip the dump's
    last bytes are still in our buffers when the dump program ends.
    """
    settings.BACKUP_COMPRESSION = compression
    before = snapshot(backup_folder)
    rows = signup_rows()
    small_disk.use_up_inodes(leave=1)

    message = backup_error()

    assert_failed_cleanly(message, backup_folder, before, rows, mailoutbox)
