"""The signup journal off-site (§11 with §8.1): segments shipped beside the backups.

Backups off-site without the journal would bring the "server is gone" recovery point back to
the newest backup. Each worker pass therefore copies every segment that grew since it was last
shipped (a segment is at most journal.SEGMENT_MAX_BYTES, and one still being written is sent
again whole as it grows); `listbackups --sync --offsite` fetches them back on an empty machine,
so the restore that follows replays them.

A segment still being written is sent again at most every BACKUP_JOURNAL_SHIP_SECONDS (60 s)
while it grows; a finished one at once. Off-site, a segment lives under `journal/<name>`.
What was shipped is remembered in BACKUP_DIR/journal/.shipped.json (name -> [bytes, when]);
losing that file only means one re-upload.
"""

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backups_app import conf, files, journal, offsite
from backups_app.alerts import logger
from backups_app.keys import encryption_keyring, signing_keyring
from backups_app.models import Backup
from backups_app.services.journal import backup_position

OFFSITE_FOLDER = "journal"
STATE_NAME = ".shipped.json"


@dataclass
class JournalShipping:
    shipped: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    #: name -> the store's error.
    failed: dict[str, str] = field(default_factory=dict)


def _offsite_name(name: str) -> str:
    return f"{OFFSITE_FOLDER}/{name}"


def _read_state(directory: Path) -> dict[str, tuple[int, float]]:
    """What was shipped, as far as the (untrusted) state file says: only for "did it grow?";
    never a name to delete. Malformed entries are dropped."""
    try:
        state = json.loads((directory / STATE_NAME).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(state, dict):
        return {}
    valid = {}
    for name, value in state.items():
        if not journal.SEGMENT_PATTERN.match(str(name)) or not isinstance(value, list):
            continue
        if len(value) != 2 or not all(isinstance(v, int | float) for v in value):
            continue
        valid[str(name)] = (int(value[0]), float(value[1]))
    return valid


def _write_state(directory: Path, state: dict[str, tuple[int, float]]) -> None:
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".shipped-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({name: list(value) for name, value in state.items()}, handle, sort_keys=True)
        os.replace(temporary, directory / STATE_NAME)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def journal_offsite_ship(*, now: float | None = None) -> JournalShipping:
    """Copy every segment that grew since it was shipped (one still being written at most
    every BACKUP_JOURNAL_SHIP_SECONDS); then drop off-site segments that the oldest backup
    kept off-site covers and that are gone here. No-op without off-site copies.

    A segment is read through journal.open_segment (a regular file, never a symlink's target)
    and only its complete lines are sent.
    """
    result = JournalShipping()
    if not conf.offsite_enabled():
        return result
    directory = conf.journal_dir()
    if not directory.is_dir():
        return result
    now = time.time() if now is None else now
    state = _read_state(directory)
    local = journal.segment_names(directory)
    for name in local:
        path = directory / name
        try:
            data = journal.read_segment_bytes(path)
        except FileNotFoundError:
            continue
        except OSError as err:  # planted: not a segment
            logger.warning("journal: %s is not shipped off-site: %s", name, err)
            continue
        data = data[: data.rfind(b"\n") + 1]
        shipped_size, shipped_at = state.get(name, (-1, 0.0))
        if shipped_size == len(data):
            continue
        if now - shipped_at < conf.journal_ship_seconds() and journal.being_written(path):
            continue
        try:
            offsite.upload_bytes(data, name=_offsite_name(name))
        except offsite.STORE_ERRORS as err:
            result.failed[name] = str(err)
            logger.warning("journal segment not shipped off-site name=%s error=%s", name, err)
            continue
        state[name] = (len(data), now)
        result.shipped.append(name)
    try:
        result.pruned = _prune_offsite(set(local))
    except offsite.STORE_ERRORS as err:
        logger.warning("journal segments not pruned off-site: %s", err)
    kept = {name: value for name, value in state.items() if name in local}
    _write_state(directory, kept)
    return result


def _offsite_segments() -> list[str]:
    _, names = offsite.storage().listdir(OFFSITE_FOLDER)
    return sorted(name for name in names if journal.SEGMENT_PATTERN.match(name))


def _prune_offsite(local: set[str]) -> list[str]:
    """Off-site segments gone here that the oldest backup off-site covers whole: decided from
    the store's own listing and the backups' signed positions, never from local files."""
    oldest = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=False)
        .order_by("started_at")
        .first()
    )
    covered = backup_position(backup=oldest) if oldest is not None else None
    if not covered:
        return []
    store = offsite.storage()
    pruned = []
    for name in _offsite_segments():
        if name in local or name not in covered:
            continue
        if store.size(_offsite_name(name)) > covered[name]:
            continue
        offsite.delete(_offsite_name(name))
        pruned.append(name)
    return pruned


def journal_offsite_fetch(*, extra_keys: tuple[bytes, ...] = ()) -> list[str]:
    """Copy down every off-site segment missing here, or longer off-site (the empty machine).

    The bucket is not trusted: a fetched copy must be a whole, valid segment of ours (every
    line passes its check), and a local segment is only replaced by a copy it is the exact
    beginning of, never while a process writes it. Anything else is left out and logged.
    Returns the names fetched.
    """
    if not conf.offsite_enabled():
        return []
    directory = conf.journal_dir()
    files.ensure_dir(conf.backup_dir())
    files.ensure_dir(directory)
    store = offsite.storage()
    mac_keys = {
        kid: journal.mac_key(key)
        for kid, key in signing_keyring(extra_keys=extra_keys).verification_keys.items()
    }
    decryption = encryption_keyring().decryption_keys
    fetched = []
    for name in _offsite_segments():
        local = directory / name
        remote_size = store.size(_offsite_name(name))
        try:
            local_size = local.lstat().st_size
        except FileNotFoundError:
            local_size = None
        if local_size is not None and local_size >= remote_size:
            continue
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".fetch-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                offsite.download(_offsite_name(name), handle)
                handle.flush()
                os.fsync(handle.fileno())
            problem = _fetched_problem(
                Path(temporary),
                name,
                local if local_size is not None else None,
                mac_keys,
                decryption,
            )
            if problem:
                logger.warning(
                    "journal segment not fetched from off-site name=%s: %s", name, problem
                )
                continue
            os.replace(temporary, local)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        fetched.append(name)
        logger.info("journal segment fetched from off-site name=%s", name)
    return fetched


def _fetched_problem(copy: Path, name: str, local: Path | None, mac_keys, decryption) -> str:
    segment = journal.read_segment(copy, mac_keys=mac_keys, encryption_keys=decryption, name=name)
    if segment.key_id is None or segment.damage:
        reasons = "; ".join(str(d) for d in segment.damage) or "unreadable"
        return f"the off-site copy does not verify ({reasons})"
    if local is None:
        return ""
    if journal.being_written(local):
        return "the local segment is still being written"
    try:
        ours = journal.read_segment_bytes(local)
    except OSError as err:
        return f"the local segment cannot be compared ({err})"
    with copy.open("rb") as handle:
        if handle.read(len(ours)) != ours:
            return "the off-site copy does not begin with the local segment"
    return ""
