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

from backups_app import conf, journal, offsite
from backups_app.alerts import logger
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
    try:
        state = json.loads((directory / STATE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    return {
        str(name): (int(value[0]), float(value[1]))
        for name, value in state.items()
        if isinstance(value, list) and len(value) == 2
    }


def _write_state(directory: Path, state: dict[str, tuple[int, float]]) -> None:
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".shipped-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, sort_keys=True)
        os.replace(temporary, directory / STATE_NAME)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def journal_offsite_ship(*, now: float | None = None) -> JournalShipping:
    """Copy every segment that grew since it was shipped (one still being written at most
    every BACKUP_JOURNAL_SHIP_SECONDS); then drop off-site segments that the oldest backup
    kept off-site covers and that are gone here. No-op without off-site copies."""
    result = JournalShipping()
    if not conf.offsite_enabled():
        return result
    directory = conf.journal_dir()
    if not directory.is_dir():
        return result
    now = time.time() if now is None else now
    state = _read_state(directory)
    for name in journal.segment_names(directory):
        path = directory / name
        try:
            size = journal.complete_size(path)
        except FileNotFoundError:
            continue
        shipped_size, shipped_at = state.get(name, (-1, 0.0))
        if shipped_size == size:
            continue
        recently = now - shipped_at < conf.journal_ship_seconds()
        if recently and journal.is_active(path):
            continue
        try:
            offsite.upload(path, name=_offsite_name(name))
        except offsite.STORE_ERRORS as err:
            result.failed[name] = str(err)
            logger.warning("journal segment not shipped off-site name=%s error=%s", name, err)
            continue
        # What reached the store may be more than `size` (a line appended meanwhile); the next
        # pass sends it again, which is harmless.
        state[name] = (size, now)
        result.shipped.append(name)
    result.pruned = _prune_offsite(directory, state)
    _write_state(directory, {n: s for n, s in state.items() if n not in result.pruned})
    return result


def _prune_offsite(directory: Path, state: dict[str, tuple[int, float]]) -> list[str]:
    """Off-site segments the oldest off-site backup covers whole and pruned here already."""
    oldest = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, offsite_at__isnull=False)
        .order_by("started_at")
        .first()
    )
    covered = backup_position(oldest) if oldest is not None else None
    if not covered:
        return []
    pruned = []
    for name, (shipped_size, _) in list(state.items()):
        if (directory / name).exists() or covered.get(name, -1) < shipped_size:
            continue
        try:
            offsite.delete(_offsite_name(name))
        except offsite.STORE_ERRORS as err:
            logger.warning("journal segment not pruned off-site name=%s error=%s", name, err)
            continue
        pruned.append(name)
    return pruned


def journal_offsite_fetch() -> list[str]:
    """Copy down every off-site segment missing here or longer off-site (the empty machine);
    never shortens a local one. Returns the names fetched."""
    if not conf.offsite_enabled():
        return []
    store = offsite.storage()
    _, names = store.listdir(OFFSITE_FOLDER)
    directory = conf.journal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fetched = []
    for name in sorted(n for n in names if journal.SEGMENT_PATTERN.match(n)):
        local = directory / name
        remote_size = store.size(_offsite_name(name))
        if local.exists() and local.stat().st_size >= remote_size:
            continue
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".fetch-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                offsite.download(_offsite_name(name), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, local)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        fetched.append(name)
        logger.info("journal segment fetched from off-site name=%s", name)
    return fetched
