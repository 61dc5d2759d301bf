"""The keys that sign and encrypt backups, read from settings when used (docs/spec.md §8.2, §8.3).

They live in the environment, never beside the backups: whoever can write to BACKUP_DIR or the
off-site bucket must not hold them. The first key of each ring signs or encrypts; the others
only verify or decrypt older backups, so keys rotate without re-signing anything.
"""

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from backups_app import conf, encryption
from backups_app.encryption import key_id

MIN_SIGNING_KEY_LENGTH = 32
# A key file may hold another installation's DJANGO_SECRET_KEY when it had no signing key of
# its own; this prefix says so.
SECRET_KEY_PREFIX = "secret-key:"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True)
class SigningKeyring:
    """The key that signs new backups, and every key a signature may be checked with."""

    signing_key: bytes
    signing_key_id: str
    verification_keys: dict[str, bytes]
    #: True when no BACKUP_SIGNING_KEY is set and DJANGO_SECRET_KEY stands in.
    derived: bool


def signing_key_from_text(text: str, *, setting: str = "BACKUP_SIGNING_KEY") -> bytes:
    """The HMAC key a configured text stands for (never echoed in errors)."""
    text = text.strip()
    if text.startswith(SECRET_KEY_PREFIX):
        secret = text[len(SECRET_KEY_PREFIX) :].strip()
        if len(secret) < MIN_SIGNING_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"{setting} names a secret key that is too short ({len(secret)} characters)."
            )
        return derived_signing_key(secret)
    if len(text) < MIN_SIGNING_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"{setting} is too short ({len(text)} characters; at least "
            f"{MIN_SIGNING_KEY_LENGTH}). Make one with: "
            'python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return text.encode()


def derived_signing_key(secret_key: str) -> bytes:
    """The signing key of an installation without BACKUP_SIGNING_KEY: its secret key, through
    HKDF so the two are never the same bytes."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"waitlist-site backup signing v1"
    ).derive(secret_key.encode())


def signing_keyring(*, extra_keys: tuple[bytes, ...] = ()) -> SigningKeyring:
    """The configured signing keyring, plus `extra_keys` (another installation's, given with
    `--signing-key-file`) that only verify."""
    texts = conf.signing_key_texts()
    if texts:
        keys = [signing_key_from_text(text) for text in texts]
        derived = False
    else:
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        keys = [derived_signing_key(str(secret)) for secret in secrets if secret]
        derived = True
    verification = {key_id(key): key for key in [*keys, *extra_keys]}
    return SigningKeyring(
        signing_key=keys[0],
        signing_key_id=key_id(keys[0]),
        verification_keys=verification,
        derived=derived,
    )


def signing_key_from_file(path: str | Path) -> bytes:
    """The signing key in a file (`--signing-key-file`): another installation's
    BACKUP_SIGNING_KEY, or `secret-key:` followed by its DJANGO_SECRET_KEY."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ImproperlyConfigured(f"Cannot read the signing key file {path}: {err}") from err
    if not text:
        raise ImproperlyConfigured(f"The signing key file {path} is empty.")
    return signing_key_from_text(text, setting=f"The signing key in {path}")


@dataclass(frozen=True)
class EncryptionKeyring:
    """The key new backups are encrypted with (None: they are not), and every key by id."""

    encrypting_key: bytes | None
    decryption_keys: dict[str, bytes]

    @property
    def encrypting_key_id(self) -> str | None:
        return key_id(self.encrypting_key) if self.encrypting_key else None


def encryption_keyring() -> EncryptionKeyring:
    """BACKUP_ENCRYPTION_KEY and BACKUP_ENCRYPTION_OLD_KEYS, parsed (never echoed in errors)."""
    primary, *old = conf.encryption_key_texts()
    keys = []
    for setting, text in [("BACKUP_ENCRYPTION_KEY", primary)] + [
        ("BACKUP_ENCRYPTION_OLD_KEYS", text) for text in old
    ]:
        if not text:
            continue
        try:
            keys.append(encryption.parse_key(text))
        except encryption.KeyFormatError as err:
            raise ImproperlyConfigured(f"{setting} is not a usable key: {err}") from None
    encrypting = keys[0] if primary else None
    return EncryptionKeyring(
        encrypting_key=encrypting,
        decryption_keys={key_id(key): key for key in keys},
    )
