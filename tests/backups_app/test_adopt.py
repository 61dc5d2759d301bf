"""Adopting an unsigned backup (§8.2): `backup_adopt` and `manage.py adoptbackup`.

An operator vouches for a backup written before signatures existed; it is signed only when its
files still match what its manifest says, and nothing is signed on a refusal.
"""

import json
import re

import pytest
from django.core.management import CommandError, call_command

from backups_app import files
from backups_app.exceptions import VerificationError
from backups_app.models import Backup
from backups_app.services import backup_create, backup_verify
from backups_app.services.adopt import backup_adopt

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unsigned(settings, signups, backup_dir) -> Backup:
    """A backup whose manifest is in the format before signatures: refused until adopted."""
    settings.BACKUP_SIGNING_KEY = "k" * 40
    backup = backup_create(kind=Backup.Kind.MANUAL)
    manifest = manifest_of(backup_dir, backup.name)
    del manifest["signature"]
    manifest["format"] = 1
    write_manifest(backup_dir, backup.name, manifest)
    return backup


def manifest_of(backup_dir, name) -> dict:
    return json.loads((backup_dir / files.manifest_name_for(name)).read_text())


def write_manifest(backup_dir, name, manifest) -> None:
    (backup_dir / files.manifest_name_for(name)).write_text(json.dumps(manifest))


def assert_still_unsigned(backup_dir, backup) -> None:
    assert "signature" not in manifest_of(backup_dir, backup.name)
    result = backup_verify(backup=Backup.objects.get(name=backup.name), restore_test=False)
    assert not result.ok and "not signed" in result.detail


def test_the_command_signs_an_unsigned_backup_after_checking_it(unsigned, backup_dir):
    assert not backup_verify(backup=unsigned, restore_test=False).ok

    call_command("adoptbackup", unsigned.name, yes=True)

    assert backup_verify(backup=Backup.objects.get(name=unsigned.name), restore_test=True).ok
    assert manifest_of(backup_dir, unsigned.name)["adopted_by"].startswith("cli")


def test_it_records_who_vouched_for_the_backup(unsigned, backup_dir):
    adopted = backup_adopt(name=unsigned.name, adopted_by="admin:grace")

    assert manifest_of(backup_dir, unsigned.name)["adopted_by"] == "admin:grace"
    assert adopted.name == unsigned.name


def test_who_vouched_is_kept_as_long_as_the_catalogue_keeps_a_who(unsigned, backup_dir):
    longest = Backup._meta.get_field("triggered_by").max_length
    who = "admin:" + "g" * 194

    backup_adopt(name=unsigned.name, adopted_by=who)

    assert manifest_of(backup_dir, unsigned.name)["adopted_by"] == who[:longest]
    assert backup_verify(backup=Backup.objects.get(name=unsigned.name), restore_test=False).ok


def test_a_signed_backup_is_left_as_it_is(unsigned, backup_dir):
    backup_adopt(name=unsigned.name, adopted_by="first")
    before = (backup_dir / files.manifest_name_for(unsigned.name)).read_bytes()

    backup_adopt(name=unsigned.name, adopted_by="second")

    assert (backup_dir / files.manifest_name_for(unsigned.name)).read_bytes() == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("bytes changed", "does not match its manifest's SHA-256 checksum"),
        ("bytes added", "does not have the size its manifest records"),
        ("end cut off", "is incomplete: its completion marker is missing"),
        ("another name", "names backup-1999-01-01"),
    ],
)
def test_a_backup_that_does_not_match_its_manifest_is_not_signed(
    unsigned, backup_dir, damage, message
):
    dump = backup_dir / unsigned.name
    data = dump.read_bytes()
    manifest = manifest_of(backup_dir, unsigned.name)
    if damage == "bytes changed":
        dump.write_bytes(data.replace(b"ada@example.com", b"eve@example.com"))
    elif damage == "bytes added":
        dump.write_bytes(data + b"-- more\n")
    elif damage == "end cut off":  # and the manifest made to agree with what is left
        dump.write_bytes(data[: len(data) // 2])
        manifest.update(sha256=files.sha256_of(dump), size_bytes=dump.stat().st_size)
    else:
        manifest["name"] = "backup-1999-01-01T00-00-00-000Z.sql"
    write_manifest(backup_dir, unsigned.name, manifest)

    with pytest.raises(VerificationError, match=message):
        backup_adopt(name=unsigned.name)

    assert_still_unsigned(backup_dir, unsigned)


def test_a_manifest_that_is_not_json_is_refused_cleanly(unsigned, backup_dir):
    (backup_dir / files.manifest_name_for(unsigned.name)).write_text("{not json")

    manifest = re.escape(files.manifest_name_for(unsigned.name))
    with pytest.raises(CommandError, match=f"The manifest {manifest} cannot be read"):
        call_command("adoptbackup", unsigned.name, yes=True)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("backup-1999-01-01T00-00-00-000Z.sql", "No backup named"),
        ("../etc/passwd", "outside the backup folder"),
        ("notes.txt", "is not a backup file name"),
    ],
)
def test_a_wrong_name_is_refused_with_what_is_wrong(unsigned, backup_dir, name, message):
    with pytest.raises(CommandError, match=message):
        call_command("adoptbackup", name, yes=True)

    assert_still_unsigned(backup_dir, unsigned)


def test_without_yes_and_without_a_terminal_nothing_is_signed(unsigned, backup_dir):
    with pytest.raises(CommandError, match="no terminal"):
        call_command("adoptbackup", unsigned.name)

    assert_still_unsigned(backup_dir, unsigned)


def test_at_a_terminal_anything_but_yes_signs_nothing(unsigned, backup_dir, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")

    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("adoptbackup", unsigned.name)

    assert_still_unsigned(backup_dir, unsigned)
