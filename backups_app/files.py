"""Backup files on disk: names, manifests, checksums and atomic writes (docs/spec.md §4.1).

The files are the source of truth; the `Backup` table is only an index over them.
"""

import contextlib
import datetime
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError

from backups_app import conf, encryption
from backups_app.exceptions import VerificationError

CHUNK_SIZE = 1 << 20
# The buffer of each layer of a restore stream (checksum, decryption, completion marker), and
# what the engines read from it at a time: 256 KiB reads as fast as 1 MiB, and with a copy or
# two of each in flight keeps a restore's own memory to a few MB.
STREAM_CHUNK_SIZE = 256 * 1024
NAME_PATTERN = re.compile(
    r"^backup-(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)"
    r"\.(?P<ext>sql(?:\.gz)?(?:\.enc)?)$"
)
MANIFEST_PATTERN = re.compile(
    r"^backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.manifest\.json$"
)
PARTIAL_PREFIX = ".partial-"
ENCRYPTED_SUFFIX = ".enc"


def stamp_for(moment: datetime.datetime) -> str:
    """`2025-07-13T16-30-00-000Z`: UTC, milliseconds, safe in file names."""
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H-%M-%S-") + f"{moment.microsecond // 1000:03d}Z"


def dump_name(stamp: str, compression: str, *, encrypted: bool = False) -> str:
    return (
        f"backup-{stamp}.sql"
        + (".gz" if compression == "gzip" else "")
        + (ENCRYPTED_SUFFIX if encrypted else "")
    )


def is_encrypted_name(name: str) -> bool:
    return name.endswith(ENCRYPTED_SUFFIX)


def is_gzip_name(name: str) -> bool:
    return name.removesuffix(ENCRYPTED_SUFFIX).endswith(".gz")


def manifest_name_for(dump: str) -> str:
    match = NAME_PATTERN.match(dump)
    if not match:
        raise ValidationError(
            f"{dump!r} is not a backup name (backup-<UTC timestamp>.sql[.gz][.enc])."
        )
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
            f"{resolved.name!r} is not a backup file name (backup-<UTC timestamp>.sql[.gz][.enc])."
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
    except (OSError, ValueError, RecursionError) as err:
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
    a backup. The writer holds a lock on that file while it lives, so `remove_dead_partials()`
    can tell a killed writer's file from one still being written (on this host or another).
    """
    ensure_dir(final.parent)
    lock_fd, temporary = _locked_temporary(final)
    try:
        # Written through the descriptor mkstemp opened, never reopened by name: whoever can
        # write to the folder could have put another file or a symlink under that name.
        with os.fdopen(os.dup(lock_fd), "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            _refuse_if_replaced(temporary, lock_fd)
        os.replace(temporary, final)
        fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        os.close(lock_fd)  # releases the lock


def _refuse_if_replaced(temporary: str, fd: int) -> None:
    """The name must still be the file we wrote, or the rename would put another in place."""
    try:
        named = os.stat(temporary, follow_symlinks=False)
    except FileNotFoundError:
        named = None
    ours = os.fstat(fd)
    if named is None or (named.st_dev, named.st_ino) != (ours.st_dev, ours.st_ino):
        raise OSError(f"{temporary} was replaced by another file while it was written; discarded.")


def _locked_temporary(final: Path) -> tuple[int, str]:
    """A new `.partial-<final name>.<random>` file, locked by us (the open descriptor)."""
    for _ in range(3):
        fd, temporary = tempfile.mkstemp(prefix=f"{PARTIAL_PREFIX}{final.name}.", dir=final.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A clean-up may have taken it for a dead writer's in the instant before we locked it.
        if os.fstat(fd).st_nlink:
            return fd, temporary
        os.close(fd)
    raise OSError(f"Cannot create a temporary file in {final.parent}: removed as soon as made.")


def fsync_dir(path: Path) -> None:
    """Make a rename or a new name in `path` survive a power cut, not only the file's bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_dead_partials(folder: Path) -> list[Path]:
    """Delete the `.partial-*` files in `folder` whose writer is gone (killed, or its host
    crashed): partial dumps and exports hold personal data. A file still being written is
    locked by its writer (or by a dump program it started) and is left alone."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.glob(PARTIAL_PREFIX + "*")):
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except (FileNotFoundError, IsADirectoryError):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def remove_backup(name: str) -> list[Path]:
    """Delete a backup's files: the dump first, so a dump never stays without its manifest."""
    backup_dir = conf.backup_dir()
    removed = []
    for path in (backup_dir / name, backup_dir / manifest_name_for(name)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def lone_backup_files() -> list[str]:
    """Names of backups of which only one file is on disk: a dump without its manifest, or a
    manifest without its dump. Each name is the dump's (`backup-….sql[.gz]`)."""
    backup_dir = conf.backup_dir()
    if not backup_dir.is_dir():
        return []
    dumps, manifests = {}, set()
    for path in backup_dir.iterdir():
        if match := NAME_PATTERN.match(path.name):
            dumps[match.group("stamp")] = path.name
        elif MANIFEST_PATTERN.match(path.name):
            manifests.add(path.name[len("backup-") : -len(".manifest.json")])
    lone = [name for stamp, name in dumps.items() if stamp not in manifests]
    for stamp in manifests - set(dumps):
        try:
            manifest = read_manifest(backup_dir / f"backup-{stamp}.manifest.json")
        except ValidationError:
            continue  # not ours to judge: the catalogue sync reports it as unreadable
        name = str(manifest["name"])
        if NAME_PATTERN.match(name) and manifest_name_for(name) == f"backup-{stamp}.manifest.json":
            lone.append(name)
    return sorted(lone)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def open_sql(path: Path, *, manifest: dict[str, Any] | None = None) -> Iterator[IO[bytes]]:
    """The dump's SQL as a binary stream: decrypted (`.enc`, every chunk authenticated before
    its bytes are handed on) and decompressed (`.gz`) on the fly.

    With the `manifest` (already checked), reading past the end raises VerificationError
    unless the stored bytes are the ones the manifest's signed size and checksum describe
    (they are hashed again as they are read) and the SQL ends with the completion marker of
    the manifest's vendor: a file swapped or edited after it was checked, or a dump that
    stops early, is caught before a restore commits (PostgreSQL's COMMIT, SQLite's swap come
    after the end). A wrong key, damaged ciphertext or a cut-off file raise VerificationError
    too.
    """
    from backups_app.keys import encryption_keyring  # keys reads settings; files stays light

    with path.open("rb") as raw:
        stream: IO[bytes] = raw
        if manifest is not None:
            stream = io.BufferedReader(_CheckedReader(raw, path.name, manifest), STREAM_CHUNK_SIZE)
        try:
            if is_encrypted_name(path.name):
                keys = encryption_keyring().decryption_keys
                stream = io.BufferedReader(
                    encryption.DecryptingReader(stream, keys), STREAM_CHUNK_SIZE
                )
            if is_gzip_name(path.name):
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            if manifest is not None:
                stream = io.BufferedReader(
                    _CompleteReader(stream, path.name, manifest), STREAM_CHUNK_SIZE
                )
            yield stream
        except encryption.DecryptionError as err:
            raise VerificationError(
                f"{path.name} cannot be decrypted: {err} Nothing was changed."
            ) from err
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise VerificationError(
                f"{path.name} cannot be read to its end: {err} Nothing was changed."
            ) from err


class _CheckedReader(io.RawIOBase):
    """Reads a stored file through, and at its end compares size and SHA-256 with a manifest."""

    def __init__(self, raw: IO[bytes], name: str, manifest: dict[str, Any]) -> None:
        super().__init__()
        self.raw = raw
        self.name = name
        self.digest = hashlib.sha256()
        self.size = 0
        self.expected = (manifest.get("size_bytes"), manifest.get("sha256"))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
            self.size += count
        elif (self.size, self.digest.hexdigest()) != self.expected:
            raise VerificationError(
                f"{self.name} changed while it was being restored: its bytes no longer match "
                "the signed checksum. Nothing was changed."
            )
        return count


class _CompleteReader(io.RawIOBase):
    """Reads a dump's SQL through, and at its end checks the completion marker of its vendor.

    What tail_of() and the engine's is_complete() check before a restore, here done on the way:
    a .gz or .enc dump then need not be decompressed or decrypted a second time to find it.
    """

    def __init__(self, sql: IO[bytes], name: str, manifest: dict[str, Any]) -> None:
        from backups_app.engines import engine_class  # engines import Django's db layer

        super().__init__()
        self.sql = sql
        self.name = name
        self.is_complete = engine_class(str(manifest.get("vendor"))).is_complete
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.sql.readinto(buffer)
        if count:
            if count >= TAIL_SIZE:
                self.tail = bytes(memoryview(buffer)[count - TAIL_SIZE : count])
            else:
                self.tail = (self.tail + bytes(memoryview(buffer)[:count]))[-TAIL_SIZE:]
        elif not self.is_complete(self.tail):
            raise VerificationError(
                f"{self.name} is incomplete: its completion marker is missing. Nothing was changed."
            )
        return count


#: How much of a dump's end tail_of() returns: the completion marker is in it.
TAIL_SIZE = 4096


def tail_of(path: Path, size: int = TAIL_SIZE) -> bytes:
    """The last `size` bytes of the dump's SQL (decrypted and decompressed: reads the whole
    stream of a .gz or .enc file, which proves it decrypts)."""
    if is_gzip_name(path.name) or is_encrypted_name(path.name):
        tail = b""
        with open_sql(path) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                tail = (tail + chunk)[-size:]
        return tail
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - size))
        return handle.read()
