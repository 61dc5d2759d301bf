"""Backup files on disk: names, manifests, checksums and atomic writes (PRODUCT.md §4.1).

The files are the source of truth; the `Backup` table is only an index over them.
"""

import contextlib
import datetime
import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError

from backups_app import conf

CHUNK_SIZE = 1 << 20
NAME_PATTERN = re.compile(
    r"^backup-(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)\.(?P<ext>sql|sql\.gz)$"
)
MANIFEST_PATTERN = re.compile(
    r"^backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.manifest\.json$"
)
PARTIAL_PREFIX = ".partial-"


def stamp_for(moment: datetime.datetime) -> str:
    """`2025-07-13T16-30-00-000Z`: UTC, milliseconds, safe in file names."""
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H-%M-%S-") + f"{moment.microsecond // 1000:03d}Z"


def dump_name(stamp: str, compression: str) -> str:
    return f"backup-{stamp}.sql" + (".gz" if compression == "gzip" else "")


def manifest_name_for(dump: str) -> str:
    match = NAME_PATTERN.match(dump)
    if not match:
        raise ValidationError(f"{dump!r} is not a backup name (backup-<UTC timestamp>.sql[.gz]).")
    return f"backup-{match.group('stamp')}.manifest.json"


def ensure_dir(path: Path) -> Path:
    """Create the folder if needed, readable by its owner only: dumps hold personal data."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def resolve_dump(name_or_path: str | os.PathLike) -> Path:
    """The dump file a user named: a backup name, or a path that must lie inside BACKUP_DIR.

    Anything else (another folder, `..`, a symlink out, a file that is not a backup) is refused.
    """
    backup_dir = conf.backup_dir().resolve()
    raw = str(name_or_path).strip()
    if not raw:
        raise ValidationError("Name a backup (see `manage.py listbackups`).")
    candidate = Path(raw)
    if not candidate.is_absolute() and candidate.parent == Path("."):
        candidate = backup_dir / candidate
    resolved = candidate.resolve()
    if resolved.parent != backup_dir:
        raise ValidationError(f"{raw!r} is outside the backup folder {backup_dir}; refused.")
    if not NAME_PATTERN.match(resolved.name):
        raise ValidationError(
            f"{resolved.name!r} is not a backup file name (backup-<UTC timestamp>.sql[.gz])."
        )
    if not resolved.is_file():
        raise ValidationError(f"No backup named {resolved.name!r} in {backup_dir}.")
    return resolved


def manifest_path_for(dump: Path) -> Path:
    return dump.with_name(manifest_name_for(dump.name))


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise ValidationError(f"The manifest {path.name} is missing.") from None
    except (OSError, ValueError) as err:
        raise ValidationError(f"The manifest {path.name} cannot be read: {err}") from err
    if not isinstance(manifest, dict) or "name" not in manifest:
        raise ValidationError(f"The manifest {path.name} is not a backup manifest.")
    return manifest


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write (or rewrite) a manifest atomically: readers see the old one or the new one."""
    data = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode() + b"\n"
    with atomic_file(path) as handle:
        handle.write(data)


def manifest_paths() -> list[Path]:
    """Every manifest in BACKUP_DIR, oldest first (names sort by time)."""
    backup_dir = conf.backup_dir()
    if not backup_dir.is_dir():
        return []
    return sorted(p for p in backup_dir.iterdir() if MANIFEST_PATTERN.match(p.name))


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[IO[bytes]]:
    """Write to a hidden temporary file beside `final`; fsync and rename only on success.

    A failure, or a killed process, leaves at most a `.partial-*` file, never one that looks like
    a backup; `remove_stale_partials()` clears those up.
    """
    ensure_dir(final.parent)
    fd, temporary = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=final.parent)
    os.close(fd)
    try:
        # Opened by name so that `handle.name` is the path (the checksum reader opens it too).
        with open(temporary, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_partials(older_than_seconds: float = 3600) -> list[Path]:
    """Delete `.partial-*` files left by killed backups (old ones only: a running backup's is
    its own)."""
    backup_dir = conf.backup_dir()
    if not backup_dir.is_dir():
        return []
    now = datetime.datetime.now().timestamp()
    removed = []
    for path in backup_dir.glob(PARTIAL_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > older_than_seconds:
                path.unlink()
                removed.append(path)
    return removed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def open_sql(path: Path) -> Iterator[IO[bytes]]:
    """The dump's SQL as a binary stream, decompressing `.sql.gz` on the fly."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            yield handle
    else:
        with path.open("rb") as handle:
            yield handle


def tail_of(path: Path, size: int = 4096) -> bytes:
    """The last `size` bytes of the dump's SQL (decompressed; reads the whole .gz stream)."""
    if path.name.endswith(".gz"):
        tail = b""
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                tail = (tail + chunk)[-size:]
        return tail
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - size))
        return handle.read()
