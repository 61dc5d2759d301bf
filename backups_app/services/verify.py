"""Proving a backup good: checksum, completeness, and an optional restore test (§4.4)."""

import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from backups_app import conf, files
from backups_app.alerts import alert_admins, logger
from backups_app.engines import get_engine
from backups_app.engines.base import compare_counts
from backups_app.exceptions import BackupBusy, BackupError, VerificationError, error_text
from backups_app.models import Backup
from backups_app.selectors import backup_latest
from backups_app.services.catalogue import manifest_update
from backups_app.services.offsite import backup_offsite_fetch_missing
from backups_app.signing import manifest_check
from waitlist.models import fitted


@dataclass
class Verification:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    restore_tested: bool = False
    restore_seconds: float | None = None
    #: Another backup or restore held the lock: nothing was checked or recorded.
    busy: bool = False

    @property
    def detail(self) -> str:
        if self.ok:
            test = (
                f"; restore test passed in {self.restore_seconds:.3f} s"
                if self.restore_tested
                else ""
            )
            return "checksum and completeness verified" + test
        return "; ".join(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "problems": self.problems,
            "restore_tested": self.restore_tested,
            "restore_seconds": self.restore_seconds,
            "busy": self.busy,
        }


def check_files(
    *, dump: Path, signing_keys: tuple[bytes, ...] = (), read_to_end: bool = True
) -> dict[str, Any]:
    """The manifest of a dump whose signature, size, checksum and completion marker are right.

    The signature is checked first, before anything reads the dump: a manifest our keys (or
    `signing_keys`, another installation's) did not sign is refused with SignatureError. Raises
    VerificationError saying what is wrong. Reads the file once, and a .gz or .enc file a
    second time, decompressed and decrypted, to find its completion marker.

    Without `read_to_end`, that second pass is left to the caller, which then reads the whole
    dump through `files.open_sql(dump, manifest=manifest)` before anything commits: that
    stream checks the marker at the end, as it checks the checksum again. Only the start of
    the SQL is read here, so a wrong key or a file that is not gzip is still refused before
    anything else happens. (A signed dump always has its marker: backup_create() checks it
    before signing, and the signed checksum covers every byte.)
    """
    try:
        manifest = files.read_manifest(files.manifest_path_for(dump))
    except ValidationError as err:
        raise VerificationError(error_text(err)) from err
    manifest_check(manifest, extra_keys=signing_keys)
    if manifest.get("name") != dump.name:
        raise VerificationError(
            f"The manifest beside {dump.name} belongs to {manifest.get('name')}: the files were "
            "renamed or swapped. Refused; nothing was changed."
        )
    size = dump.stat().st_size
    if size == 0:
        raise VerificationError(f"{dump.name} is empty.")
    if manifest.get("size_bytes") != size:
        raise VerificationError(
            f"{dump.name} is {size} bytes; the manifest says {manifest.get('size_bytes')} "
            "(truncated or replaced)."
        )
    if files.sha256_of(dump) != manifest.get("sha256"):
        raise VerificationError(
            f"{dump.name} does not match its SHA-256 checksum: the file was changed or damaged."
        )
    engine = get_engine()
    if manifest.get("vendor") != engine.vendor:
        return manifest
    streamed = files.is_gzip_name(dump.name) or files.is_encrypted_name(dump.name)
    if streamed and not read_to_end:
        try:
            with files.open_sql(dump) as sql:
                sql.read(1)  # the header: the key id and its first chunk, or the gzip header
        except (OSError, EOFError, zlib.error) as err:
            raise VerificationError(f"{dump.name} cannot be read: {err}") from err
        return manifest
    try:
        tail = files.tail_of(dump)
    except (OSError, EOFError, zlib.error) as err:  # a damaged gzip stream
        raise VerificationError(f"{dump.name} cannot be read to its end: {err}") from err
    if not engine.is_complete(tail):
        raise VerificationError(f"{dump.name} is incomplete: its completion marker is missing.")
    return manifest


def backup_verify(
    *,
    backup: Backup,
    restore_test: bool = False,
    lock_timeout: float | None = None,
    signing_keys: tuple[bytes, ...] = (),
) -> Verification:
    """Verify a backup and record the result in its manifest and catalogue entry.

    With `restore_test`, also restore it into a scratch database, compare every row count with
    the manifest, and record the measured restore time (our RTO). A restore test holds the
    backup-or-restore lock, waiting up to `lock_timeout` (BACKUP_LOCK_TIMEOUT_SECONDS) for it,
    so that the clean-up of killed operations never takes its scratch database for a leftover;
    when it stays busy the result says so and nothing is recorded. `signing_keys` verify a
    backup from another installation. Never raises for a bad backup: the result says what is
    wrong.
    """
    if restore_test:
        timeout = conf.lock_timeout_seconds() if lock_timeout is None else lock_timeout
        try:
            with get_engine().lock(timeout=timeout):
                return _verify(backup, restore_test=True, signing_keys=signing_keys)
        except BackupBusy as err:
            return Verification(name=backup.name, ok=False, problems=[str(err)], busy=True)
    return _verify(backup, restore_test=False, signing_keys=signing_keys)


def backup_verify_selected(
    *,
    backups: Iterable[Backup],
    restore_test: bool = False,
    signing_keys: tuple[bytes, ...] = (),
) -> list[Verification]:
    """Verify each successful backup of a selection, in its order, as backup_verify() does.

    The others (failed, still running) are left out: they have no complete dump to check, and
    a failed verification of one would be recorded against it and alert ADMINS for nothing.
    An empty list when the selection holds no successful backup.
    """
    return [
        backup_verify(backup=backup, restore_test=restore_test, signing_keys=signing_keys)
        for backup in backups
        if backup.status == Backup.Status.SUCCEEDED
    ]


def backup_restore_test_latest() -> Verification | None:
    """Prove the newest successful backup restores (the daily job): backup_verify() with
    `restore_test`, recorded on it. None, with a warning logged, when there is no backup yet."""
    latest = backup_latest()
    if latest is None:
        logger.warning("daily restore test: there is no backup to test")
        return None
    return backup_verify(backup=latest, restore_test=True)


def _verify(backup: Backup, *, restore_test: bool, signing_keys: tuple[bytes, ...]) -> Verification:
    result = Verification(name=backup.name, ok=True, restore_tested=restore_test)
    try:
        backup_offsite_fetch_missing(name=backup.name)  # the local copy is gone (§8.1)
        dump = files.resolve_dump(backup.name)
        # A restore test reads the whole dump anyway, and checks its marker on the way.
        manifest = check_files(dump=dump, signing_keys=signing_keys, read_to_end=not restore_test)
        if restore_test:
            result.restore_seconds = _restore_test(dump, manifest)
    except ValidationError as err:
        result.ok, result.problems = False, list(err.messages)
    except BackupError as err:
        result.ok, result.problems = False, [str(err)]

    verification = {
        "ok": result.ok,
        "at": timezone.now().isoformat(),
        "detail": fitted(Backup, "verification_detail", result.detail),
        "restore_tested": restore_test,
        "restore_seconds": result.restore_seconds,
    }
    try:
        manifest_update(backup=backup, verification=verification)
    except (ValidationError, VerificationError):
        # No manifest, or one our keys do not vouch for: record in the catalogue only.
        backup.verified_at = timezone.now()
        backup.verification_ok = result.ok
        backup.verification_detail = fitted(Backup, "verification_detail", result.detail)
        backup.save()
    if result.ok:
        logger.info("backup verified name=%s detail=%s", backup.name, result.detail)
    else:
        alert_admins(f"Backup {backup.name} failed verification", result.detail)
    return result


def _restore_test(dump: Path, manifest: dict[str, Any]) -> float:
    engine = get_engine()
    if manifest.get("vendor") != engine.vendor:
        raise VerificationError(
            f"{dump.name} is a {manifest.get('vendor')} backup; this site runs {engine.vendor}."
        )
    clock = time.monotonic()
    with files.open_sql(dump, manifest=manifest) as sql, engine.scratch(sql=sql) as scratch:
        mismatches = compare_counts(scratch.row_counts(), manifest.get("row_counts") or {})
    seconds = round(time.monotonic() - clock, 3)
    if mismatches:
        raise VerificationError("Restore test: " + "; ".join(mismatches))
    return seconds
