"""Signed manifests: a backup is trusted only when a key from outside BACKUP_DIR vouches for it
(docs/spec.md §8.2).

The HMAC covers the whole manifest — above all the stored file's size and SHA-256, so it
covers every byte of the dump, and also the pins and verification results staff and the worker
record later (each change is signed again, after the old signature was checked), so nobody can
fake a pin or a passed restore test either. Anyone who can write to the backup folder or the
bucket can still delete a backup, but can no longer make one that restores.
"""

import hashlib
import hmac
import json
from typing import Any

from backups_app.exceptions import SignatureError
from backups_app.keys import SigningKeyring, signing_keyring

FORMAT = 2
ALGORITHM = "HMAC-SHA256"
LABEL = b"waitlist-site backup manifest v2\n"


def manifest_sign(manifest: dict[str, Any], *, keyring: SigningKeyring | None = None) -> None:
    """Sign `manifest` in place with the current signing key (format 2)."""
    keyring = keyring or signing_keyring()
    manifest["format"] = FORMAT
    manifest["signature"] = {
        "algorithm": ALGORITHM,
        "key_id": keyring.signing_key_id,
        "value": _mac(keyring.signing_key, manifest),
    }


def manifest_check(manifest: dict[str, Any], *, extra_keys: tuple[bytes, ...] = ()) -> str:
    """The id of the key that signed `manifest`; SignatureError when no key of ours did."""
    name = manifest.get("name", "this backup")
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or manifest.get("format") != FORMAT:
        raise SignatureError(
            f"{name} is not signed: it predates signed backups or was not written by this "
            "site. If you trust it, `manage.py adoptbackup` signs it; nothing was changed."
        )
    claimed = str(signature.get("key_id", ""))
    keyring = signing_keyring(extra_keys=extra_keys)
    key = keyring.verification_keys.get(claimed)
    if key is None:
        raise SignatureError(
            f"{name} is signed with key {claimed or '(none)'}, which this installation does not "
            f"have (it has {', '.join(sorted(keyring.verification_keys))}). A backup from "
            "another installation needs its key: --signing-key-file. Nothing was changed."
        )
    value = signature.get("value")
    if (
        signature.get("algorithm") != ALGORITHM
        or not isinstance(value, str)
        or not hmac.compare_digest(_mac(key, manifest).encode(), value.encode("utf-8", "replace"))
    ):
        raise SignatureError(
            f"{name}'s signature does not verify with key {claimed}: its manifest was changed "
            "or forged after it was written. Refused; nothing was changed."
        )
    return claimed


def signed_payload(manifest: dict[str, Any]) -> bytes:
    """The bytes a signature covers: every field but the signature, as canonical JSON."""
    # A JSON round trip first, so a manifest signed before it is written (with Python values)
    # and the same manifest read back give the same bytes.
    plain = json.loads(json.dumps(manifest, default=str))
    fields = {name: value for name, value in plain.items() if name != "signature"}
    return LABEL + json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def _mac(key: bytes, manifest: dict[str, Any]) -> str:
    return hmac.new(key, signed_payload(manifest), hashlib.sha256).hexdigest()
