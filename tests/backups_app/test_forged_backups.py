"""Forged and foreign backups (§8.2): nothing placed in the backup folder can make a restore, a
restore test or a diff run anything; a backup is trusted only when our key vouches for it."""

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app import files
from backups_app.exceptions import DumpError, SignatureError, VerificationError
from backups_app.keys import key_id
from backups_app.models import Backup
from backups_app.services import (
    backup_catalogue_sync,
    backup_create,
    backup_diff,
    backup_restore,
    backup_restore_preview,
    backup_verify,
)
from backups_app.services.catalogue import manifest_update
from backups_app.signing import manifest_sign
from tests.backups_app.conftest import signup_rows
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "k" * 40
OTHER_KEY = "another-installation-" + "o" * 30


@pytest.fixture
def signed(settings, signups, django_user_model):
    """A backup signed with KEY of a database holding the signups and a staff user."""
    settings.BACKUP_SIGNING_KEY = KEY
    django_user_model.objects.create_user("staff", password="x-long-pass-123", is_staff=True)
    return backup_create(kind=Backup.Kind.MANUAL)


def manifest_of(backup_dir, name) -> dict:
    return json.loads((backup_dir / files.manifest_name_for(name)).read_text())


def write_manifest(backup_dir, name, manifest) -> None:
    (backup_dir / files.manifest_name_for(name)).write_text(json.dumps(manifest))


def forge(backup_dir, backup, *, appended="", inserted="") -> None:
    """Edit the dump and recompute the manifest's size and checksum, as anyone who can write to
    the backup folder can (they do not have the signing key)."""
    dump = backup_dir / backup.name
    text = dump.read_text()
    if inserted:
        end = "\n\\.\n" if connection.vendor == "postgresql" else "\n"
        position = text.index(end, text.index("grace@example.com")) + len(end)
        text = text[:position] + inserted + "\n" + text[position:]
    dump.write_text(text + appended)
    manifest = manifest_of(backup_dir, backup.name)
    manifest.update(sha256=files.sha256_of(dump), size_bytes=dump.stat().st_size)
    write_manifest(backup_dir, backup.name, manifest)


ATTACKS = (
    "code after the marker",
    "code in the middle",
    "SQL after the marker",
    "SQL in the middle",
)


def forgery(attack: str, marker) -> dict[str, str]:
    """The edit for an attack: code is a shell escape on PostgreSQL and an ATTACH (which creates
    a file) on SQLite; SQL makes every user a superuser."""
    if connection.vendor == "postgresql":
        code, sql = f"\\! touch {marker}", "UPDATE auth_user SET is_superuser = true;"
    else:
        code, sql = f"ATTACH DATABASE '{marker}' AS evil;", "UPDATE auth_user SET is_superuser = 1;"
    line = code if attack.startswith("code") else sql
    return {"appended": line + "\n"} if "after" in attack else {"inserted": line}


OPERATIONS = {
    "restore": lambda name: backup_restore(name=name),
    "restore test": lambda name: _refused_verification(name, restore_test=True),
    "diff": lambda name: backup_diff(name=name),
    "preview": lambda name: backup_restore_preview(name=name),
}


def _refused_verification(name, *, restore_test):
    result = backup_verify(backup=Backup.objects.get(name=name), restore_test=restore_test)
    if not result.ok:
        raise VerificationError(result.detail)
    return result


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_forged_backup_is_refused_with_nothing_run(
    signed, backup_dir, tmp_path, operation, attack
):
    marker = tmp_path / "the-attacker-was-here"
    forge(backup_dir, signed, **forgery(attack, marker))
    before = signup_rows()

    with pytest.raises(VerificationError, match="signature does not verify"):
        OPERATIONS[operation](signed.name)

    assert not marker.exists()
    assert signup_rows() == before
    assert not User.objects.filter(is_superuser=True).exists()
    assert Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).count() == 0


def test_a_manifest_signed_with_a_key_we_do_not_have_is_refused_naming_it(
    signed, backup_dir, settings
):
    manifest = manifest_of(backup_dir, signed.name)
    settings.BACKUP_SIGNING_KEY = OTHER_KEY
    manifest_sign(manifest)
    settings.BACKUP_SIGNING_KEY = KEY
    write_manifest(backup_dir, signed.name, manifest)

    with pytest.raises(SignatureError, match=key_id(OTHER_KEY.encode())):
        backup_restore(name=signed.name)

    assert not backup_verify(backup=signed).ok


def test_an_unsigned_manifest_is_refused(signed, backup_dir):
    manifest = manifest_of(backup_dir, signed.name)
    del manifest["signature"]
    manifest["format"] = 1
    write_manifest(backup_dir, signed.name, manifest)

    with pytest.raises(SignatureError, match="not signed"):
        backup_restore(name=signed.name)


def test_a_backup_renamed_to_another_backups_name_is_refused(signed, backup_dir):
    SignupFactory(email="later@example.com")
    newer = backup_create(kind=Backup.Kind.MANUAL)
    for suffix in (signed.name, files.manifest_name_for(signed.name)):
        (backup_dir / suffix).replace(
            backup_dir / suffix.replace(signed.name[:-4], newer.name[:-4])
        )

    with pytest.raises(VerificationError, match="belongs to"):
        backup_restore(name=newer.name)


def test_rotated_keys_old_backups_still_verify_and_new_ones_use_the_new_key(
    signed, backup_dir, settings
):
    settings.BACKUP_SIGNING_KEY = OTHER_KEY
    settings.BACKUP_SIGNING_OLD_KEYS = [KEY]
    new_id = key_id(OTHER_KEY.encode())

    assert backup_verify(backup=signed).ok
    newer = backup_create(kind=Backup.Kind.MANUAL)
    assert manifest_of(backup_dir, newer.name)["signature"]["key_id"] == new_id
    # Recording the verification signed the old backup again, with the new key.
    assert manifest_of(backup_dir, signed.name)["signature"]["key_id"] == new_id

    settings.BACKUP_SIGNING_OLD_KEYS = []
    assert backup_verify(backup=signed).ok
    assert backup_verify(backup=newer).ok

    settings.BACKUP_SIGNING_KEY = KEY
    assert not backup_verify(backup=newer).ok


def test_a_backup_from_another_installation_restores_with_its_key_file(
    signed, backup_dir, settings, tmp_path
):
    settings.BACKUP_SIGNING_KEY = OTHER_KEY
    Signup.objects.filter(email="ada@example.com").delete()

    with pytest.raises(CommandError, match="--signing-key-file"):
        call_command("restore", signed.name, yes=True)
    assert not Signup.objects.filter(email="ada@example.com").exists()

    key_file = tmp_path / "old.key"
    key_file.write_text(KEY + "\n")
    call_command("restore", signed.name, yes=True, signing_key_file=str(key_file))

    assert Signup.objects.filter(email="ada@example.com").exists()


def test_pinning_and_verifying_keep_the_signature_valid(signed, backup_dir):
    manifest_update(backup=signed, pinned=True, pin_reason="kept for the audit")
    assert backup_verify(backup=signed, restore_test=True).ok
    assert manifest_of(backup_dir, signed.name)["pinned"] is True


def test_the_catalogue_does_not_list_a_forged_manifest(signed, backup_dir):
    forge(backup_dir, signed, appended="-- edited\n")
    Backup.objects.all().delete()

    result = backup_catalogue_sync()

    assert files.manifest_name_for(signed.name) in result.unreadable
    assert not Backup.objects.filter(name=signed.name).exists()


def test_bytes_changed_after_the_check_are_caught_before_the_restore_commits(signed, backup_dir):
    manifest = manifest_of(backup_dir, signed.name)
    dump = backup_dir / signed.name
    dump.write_bytes(dump.read_bytes().replace(b"grace@example.com", b"grace@example.org"))

    with (
        pytest.raises(VerificationError, match="changed while"),
        files.open_sql(dump, manifest=manifest) as sql,
    ):
        while sql.read(1 << 16):
            pass


def test_a_forged_pin_or_verification_is_not_believed(signed, backup_dir):
    manifest = manifest_of(backup_dir, signed.name)
    manifest["pinned"] = True
    manifest["verification"] = {"ok": True, "restore_tested": True, "at": "2099-01-01T00:00:00"}
    write_manifest(backup_dir, signed.name, manifest)
    Backup.objects.all().delete()

    result = backup_catalogue_sync()

    assert files.manifest_name_for(signed.name) in result.unreadable
    assert not Backup.objects.filter(pinned=True).exists()


def test_a_signature_that_is_not_text_is_refused_cleanly(signed, backup_dir):
    manifest = manifest_of(backup_dir, signed.name)
    manifest["signature"]["value"] = "é"
    write_manifest(backup_dir, signed.name, manifest)

    result = backup_verify(backup=signed)

    assert not result.ok
    assert "does not verify" in result.detail


def test_a_file_swapped_in_under_the_partial_name_is_never_signed(
    signed, backup_dir, tmp_path, monkeypatch
):
    """Whoever can write to the folder may rename a file onto the partial name while a backup
    is being written: the backup must neither sign it nor write through a symlink."""
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    real_fdopen = files.os.fdopen

    def swap_then_open(fd, *args, **kwargs):
        for partial in backup_dir.glob(files.PARTIAL_PREFIX + "backup-*"):
            partial.unlink()
            partial.symlink_to(victim)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(files.os, "fdopen", swap_then_open)

    with pytest.raises(DumpError, match="replaced"):
        backup_create(kind=Backup.Kind.MANUAL)

    assert victim.read_text() == "untouched"
    assert not [p for p in backup_dir.iterdir() if p.is_symlink()]
