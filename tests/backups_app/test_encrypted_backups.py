"""Encryption at rest (§8.3): backups encrypted with BACKUP_ENCRYPTION_KEY restore, verify and
diff like plain ones; a wrong key or changed ciphertext is refused with the database untouched;
the emergency path decrypts without Django."""

import gzip
import io
import json
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from backups_app import encryption, files
from backups_app.engines import get_engine
from backups_app.exceptions import VerificationError
from backups_app.models import Backup
from backups_app.services import backup_create, backup_diff, backup_restore, backup_verify
from tests.backups_app.conftest import (
    assert_restore_refused,
    flip_a_byte,
    reseal,
    signup_rows,
)
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

KEY = encryption.generate_key()
NEW_KEY = encryption.generate_key()


@pytest.fixture
def encrypted(settings, signups):
    settings.BACKUP_ENCRYPTION_KEY = KEY
    return backup_create(kind=Backup.Kind.MANUAL)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_an_encrypted_backup_round_trips(settings, signups, backup_dir, compression):
    settings.BACKUP_ENCRYPTION_KEY = KEY
    settings.BACKUP_COMPRESSION = compression
    before = signup_rows()
    backup = backup_create(kind=Backup.Kind.MANUAL)
    stored = (backup_dir / backup.name).read_bytes()
    Signup.objects.filter(email="ada@example.com").delete()

    backup_restore(name=backup.name)

    assert backup.name.endswith(".enc")
    assert encryption.is_encrypted(stored)
    assert b"ada@example.com" not in stored
    manifest = json.loads((backup_dir / files.manifest_name_for(backup.name)).read_text())
    assert manifest["encryption"]["key_id"] == encryption.key_id(encryption.parse_key(KEY))
    assert signup_rows() == before
    assert backup_verify(backup=backup, restore_test=True).ok


def test_a_wrong_key_is_refused_naming_the_key_id_with_the_database_untouched(encrypted, settings):
    settings.BACKUP_ENCRYPTION_KEY = NEW_KEY
    Signup.objects.filter(email="ada@example.com").delete()

    assert_restore_refused(
        encrypted.name, VerificationError, encryption.key_id(encryption.parse_key(KEY))
    )
    assert not backup_verify(backup=encrypted).ok
    assert Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).count() == 0


def test_rotated_keys_decrypt_older_backups(encrypted, settings, backup_dir):
    settings.BACKUP_ENCRYPTION_KEY = NEW_KEY
    settings.BACKUP_ENCRYPTION_OLD_KEYS = [KEY]

    assert backup_verify(backup=encrypted, restore_test=True).ok
    newer = backup_create(kind=Backup.Kind.MANUAL)
    head = (backup_dir / newer.name).read_bytes()[:64]
    assert encryption.header_key_id(head) == encryption.key_id(encryption.parse_key(NEW_KEY))


def test_tampered_ciphertext_is_refused_even_with_a_resigned_manifest(encrypted, backup_dir):
    """Someone holding the signing key but not the encryption key still cannot change a byte."""
    flip_a_byte(backup_dir, encrypted, mask=0x01)
    Signup.objects.filter(email="ada@example.com").delete()
    before = signup_rows()

    with pytest.raises(VerificationError, match="authentication"):
        backup_restore(name=encrypted.name)
    with pytest.raises(VerificationError, match="authentication"):
        backup_diff(name=encrypted.name)

    assert signup_rows() == before
    assert not backup_verify(backup=encrypted, restore_test=True).ok


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_an_encrypted_dump_cut_before_its_completion_marker_is_refused_before_commit(
    settings, signups, backup_dir, compression
):
    """Encrypted and signed by someone holding both keys, but cut short: the restore finds the
    missing marker in the stream it restores, without decrypting the file a second time
    before, and refuses before anything commits."""
    settings.BACKUP_ENCRYPTION_KEY = KEY
    settings.BACKUP_COMPRESSION = compression
    backup = backup_create(kind=Backup.Kind.MANUAL)
    dump = backup_dir / backup.name
    plaintext = io.BytesIO()
    with dump.open("rb") as source:
        encryption.decrypt_file(source, plaintext, encryption.parse_key(KEY))
    stored = plaintext.getvalue()
    if compression == "gzip":
        stored = gzip.decompress(stored)
    stored = stored[: stored.rindex(get_engine().completion_marker)]
    if compression == "gzip":
        stored = gzip.compress(stored)
    with dump.open("wb") as destination:
        encryption.encrypt_file(io.BytesIO(stored), destination, encryption.parse_key(KEY))
    reseal(backup_dir, backup)
    Signup.objects.filter(email="ada@example.com").delete()

    assert_restore_refused(backup.name, VerificationError, "incomplete")
    assert "incomplete" in backup_verify(backup=backup).detail
    assert "incomplete" in backup_verify(backup=backup, restore_test=True).detail


def test_the_emergency_decrypt_command_needs_no_django(encrypted, backup_dir, tmp_path):
    key_file = tmp_path / "backup.key"
    key_file.write_text(KEY)
    plain = tmp_path / "plain.sql"

    done = subprocess.run(
        [
            *(sys.executable, "-m", "backups_app.encryption", "decrypt"),
            *("--key-file", str(key_file), str(backup_dir / encrypted.name), "-o", str(plain)),
        ],
        cwd=django_settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "ada@example.com" in plain.read_text()


def test_a_bad_encryption_key_setting_is_a_clear_error(settings, signups):
    settings.BACKUP_ENCRYPTION_KEY = "not-a-key"

    with pytest.raises(ImproperlyConfigured, match="BACKUP_ENCRYPTION_KEY") as caught:
        backup_create(kind=Backup.Kind.MANUAL)

    assert "not-a-key" not in str(caught.value)
