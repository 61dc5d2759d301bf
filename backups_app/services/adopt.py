"""Adopting an unsigned backup: signing one a person vouches for (§8.2).

Backups taken before signatures existed, or restored from an old copy, have no signature and
are refused everywhere. An operator who knows where one came from signs it with the current
key; its checksum, size and completion marker must still match what its manifest says.
"""

from django.core.exceptions import ValidationError

from backups_app import files
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.exceptions import SignatureError, VerificationError, error_text
from backups_app.models import Backup
from backups_app.services.catalogue import fields_from_manifest
from backups_app.signing import manifest_check, manifest_sign
from waitlist.models import fitted


def backup_adopt(*, name: str, adopted_by: str = "") -> Backup:
    """Sign backup `name` with the current key after checking its files against its manifest.

    A backup that is already validly signed is left as it is. Raises VerificationError when
    the dump does not match its manifest (then it is not adopted).
    """
    dump = files.resolve_dump(name)
    path = files.manifest_path_for(dump)
    try:
        manifest = files.read_manifest(path)
    except ValidationError as err:
        raise VerificationError(error_text(err)) from err
    try:
        manifest_check(manifest)
    except SignatureError:
        _check_unsigned(dump, manifest)
        # A "who" as long as the catalogue keeps anywhere (triggered_by).
        manifest["adopted_by"] = fitted(Backup, "triggered_by", adopted_by)
        manifest_sign(manifest)
        files.write_manifest(path, manifest)
        logger.warning("backup adopted name=%s by=%s", dump.name, adopted_by or "-")
    backup, _ = Backup.objects.update_or_create(
        name=dump.name, defaults=fields_from_manifest(manifest=manifest)
    )
    return backup


def _check_unsigned(dump, manifest) -> None:
    if manifest.get("name") != dump.name:
        raise VerificationError(f"The manifest beside {dump.name} names {manifest.get('name')}.")
    if manifest.get("size_bytes") != dump.stat().st_size:
        raise VerificationError(f"{dump.name} does not have the size its manifest records.")
    if files.sha256_of(dump) != manifest.get("sha256"):
        raise VerificationError(f"{dump.name} does not match its manifest's SHA-256 checksum.")
    engine = get_engine()
    if manifest.get("vendor") == engine.vendor and not engine.is_complete(files.tail_of(dump)):
        raise VerificationError(f"{dump.name} is incomplete: its completion marker is missing.")
