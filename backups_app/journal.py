"""The signup journal's files: append-only segments beside the backups (docs/spec.md §11).

Between two backups a signup lives only in its table. Each web process therefore also appends
every committed signup to a segment of its own in BACKUP_DIR/journal/, and makes it durable
(fdatasync) before the fan sees the thanks page. One writer per file means no two processes
ever interleave bytes, and no lock is shared between them; readers merge the segments by time.

A segment is a text file of lines `<mac> <body>`:

    line 0   the header: {"journal": 1, "segment": NAME, "key_id": ..., "encryption_key_id": ...}
    line n   an entry:   {"op": "put", "id": 7, "at": "...", "row": {...}} or {"op": "delete", ...}

`mac` is HMAC-SHA256 (128 bits, hex) under a key derived from the backup signing key, over the
segment's name, the line number and the body: a line changed, moved from another segment or
from another installation fails its check, and the backup folder stays untrusted (§8.2). When
BACKUP_ENCRYPTION_KEY is set the body of an entry is `e1:` and the base64 of a nonce and the
AES-256-GCM sealed JSON, as the backups are.

The writer holds a shared flock on its segment for as long as it is open, so pruning can tell
a segment still being written (locked) from one whose process has moved on or died.
"""

import base64
import contextlib
import datetime
import fcntl
import hmac
import json
import os
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backups_app.files import fsync_dir

JOURNAL_FORMAT = 1
DIR_NAME = "journal"
SEGMENT_PATTERN = re.compile(r"^segment-\d{8}T\d{12}Z-[A-Za-z0-9.-]{1,64}-\d+-[0-9a-f]{8}\.jsonl$")
#: A process starts a new segment past this size, so that pruning can free the old one.
SEGMENT_MAX_BYTES = 16 * 1024 * 1024
MAC_HEX_CHARS = 32
#: A segment larger than this is not read (a planted file, a link to /dev/zero): one line past
#: SEGMENT_MAX_BYTES is the most a writer ever leaves.
MAX_READ_BYTES = 4 * SEGMENT_MAX_BYTES
ENCRYPTED_PREFIX = "e1:"


class NotASegmentFile(OSError):
    """Something named like a segment that is not a regular file (a symlink, a folder, a FIFO):
    planted in the untrusted folder, never opened through."""


def open_segment(path: Path) -> int:
    """A read-only descriptor of the regular file at `path`, never following a symlink nor
    blocking on a FIFO; NotASegmentFile (an OSError) for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        if os.path.islink(path):
            raise NotASegmentFile(f"{path.name} is a symbolic link, not a segment") from err
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotASegmentFile(f"{path.name} is not a regular file")
    return fd


def read_segment_bytes(path: Path) -> bytes:
    """The whole segment, through open_segment() and at most MAX_READ_BYTES."""
    fd = open_segment(path)
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > MAX_READ_BYTES:
            raise NotASegmentFile(
                f"{path.name} is larger than any segment ({MAX_READ_BYTES} bytes)"
            )
        return handle.read(MAX_READ_BYTES + 1)


def journal_dir(backup_dir: Path) -> Path:
    return backup_dir / DIR_NAME


def mac_key(signing_key: bytes) -> bytes:
    """The journal's own key, derived so it is never the bytes that sign manifests."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"waitlist-site journal v1"
    ).derive(signing_key)


def _entry_key(encryption_key: bytes, segment: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=segment.encode(),
        info=b"waitlist-site journal entries v1",
    ).derive(encryption_key)


def _mac(key: bytes, segment: str, number: int, body: bytes) -> str:
    message = b"%s\n%d\n%s" % (segment.encode(), number, body)
    return hmac.new(key, message, sha256).hexdigest()[:MAC_HEX_CHARS]


def _aad(segment: str, number: int) -> bytes:
    return b"%s\n%d" % (segment.encode(), number)


def new_segment_name(now: datetime.datetime) -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"segment-{stamp}-{host}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"


class SegmentWriter:
    """One process's open segment, in an existing `directory`. Not shared across a fork: the
    caller checks the pid."""

    def __init__(
        self,
        directory: Path,
        *,
        signing_key: bytes,
        signing_key_id: str,
        encryption_key: bytes | None,
        encryption_key_id: str | None,
        durable: bool,
        now: datetime.datetime,
    ) -> None:
        self.directory = directory
        self.name = new_segment_name(now)
        self.path = directory / self.name
        self.pid = os.getpid()
        self.durable = durable
        self.size = 0
        #: When the last flush of the helper thread ended (time.monotonic()).
        self.flushed_at = 0.0
        #: The flush queued on the helper thread that has not started yet.
        self.pending_flush: Future | None = None
        #: Set when a flush failed: nothing more is appended to this segment.
        self.failed = False
        self._key = mac_key(signing_key)
        self._aead = AESGCM(_entry_key(encryption_key, self.name)) if encryption_key else None
        self._number = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            header = {
                "journal": JOURNAL_FORMAT,
                "segment": self.name,
                "key_id": signing_key_id,
                "encryption_key_id": encryption_key_id,
                "host": socket.gethostname(),
                "pid": self.pid,
                "created_at": now.isoformat(),
            }
            self._write_line(_dumps(header), sealed=False)
            # The new name must survive a power cut too, not only its bytes.
            fsync_dir(directory)
        except BaseException:
            self.close()
            raise

    def append(self, entry: dict[str, Any], *, flush: bool = True) -> int:
        """Append one entry; return the bytes written. Durable when this returns, unless
        `flush` is False: then the caller calls flush() before relying on it."""
        return self._write_line(_dumps(entry), sealed=self._aead is not None, flush=flush)

    @property
    def lines(self) -> int:
        """Lines written so far, the header included."""
        return self._number

    def flush(self) -> None:
        """Make every line written so far durable (nothing to do when not `durable`)."""
        if self.durable:
            os.fdatasync(self._fd)

    def _write_line(self, body: bytes, *, sealed: bool, flush: bool = True) -> int:
        number = self._number
        if sealed:
            nonce = secrets.token_bytes(12)
            sealed_body = self._aead.encrypt(nonce, body, _aad(self.name, number))
            body = ENCRYPTED_PREFIX.encode() + base64.b64encode(nonce + sealed_body)
        line = b"%s %s\n" % (_mac(self._key, self.name, number, body).encode(), body)
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if flush:
            self.flush()
        self._number += 1
        self.size += len(line)
        return len(line)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=True).encode()


class JournalAppender:
    """The process-wide journal writer: one segment per process, reopened after a fork, when
    BACKUP_DIR changes, and past SEGMENT_MAX_BYTES. Thread-safe.

    append(..., background=True) writes the line at once and leaves the fdatasync to a helper
    thread, returning a Future that is done when the entry is durable: the flush overlaps the
    rest of the request instead of adding to it. One helper thread per process runs the
    flushes in order, and a flush covers every line written before its fdatasync starts, so
    an entry written while a flush waits in the queue shares that flush's Future.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writer: SegmentWriter | None = None
        self._flusher: ThreadPoolExecutor | None = None
        self._flusher_pid = 0
        self._last_flush: Future | None = None

    def append(
        self,
        entry: dict[str, Any],
        *,
        directory: Path,
        open_writer,
        background: bool = False,
        gather_seconds: float = 0.0,
    ) -> Future | None:
        with self._lock:
            writer = self._writer
            if (
                writer is None
                or writer.pid != os.getpid()
                or writer.directory != directory
                or writer.size >= SEGMENT_MAX_BYTES
                or writer.failed
            ):
                if writer is not None:
                    self._close_writer()
                self._writer = writer = open_writer()
            background = background and writer.durable
            try:
                writer.append(entry, flush=not background)
            except OSError:
                # A failed write may have left part of a line: never append after it.
                self._close_writer()
                raise
            if not background:
                return None
            # A flush already queued covers this line too: it reads how far to flush only
            # once it starts. Under load that is one wake-up of the helper per flush, not one
            # per entry.
            pending = writer.pending_flush
            if pending is None:
                pending = self._executor().submit(self._flush, writer, gather_seconds)
                writer.pending_flush = self._last_flush = pending
            return pending

    @staticmethod
    def _flush(writer: SegmentWriter, gather_seconds: float) -> None:
        """Make every line written so far durable, with one fdatasync. With `gather_seconds`,
        flushes of a segment are at least that far apart: the entries written meanwhile share
        the next one."""
        wait = writer.flushed_at + gather_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        # From here on, a new line needs a flush of its own (its writer submits one).
        writer.pending_flush = None
        try:
            writer.flush()
            writer.flushed_at = time.monotonic()
        except OSError:
            # After a failed fdatasync Linux may report later ones as clean although the
            # pages never reached the disk: the next entry starts a new segment instead.
            # (Not closed here: the lock may be held by someone waiting on this flush.)
            writer.failed = True
            raise

    def _executor(self) -> ThreadPoolExecutor:
        # A forked child has the parent's executor object but not its thread.
        if self._flusher is None or self._flusher_pid != os.getpid():
            self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-flush")
            self._flusher_pid = os.getpid()
            self._last_flush = None
        return self._flusher

    def _close_writer(self) -> None:
        """Close the open segment (the lock is held). A flush still running on it is waited
        for first, so that it never runs on a descriptor number reused by another file."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if writer.pid == os.getpid() and self._last_flush is not None:
            with contextlib.suppress(OSError):  # reported to whoever waits on it
                self._last_flush.result()
            self._last_flush = None
        # After a fork this closes the child's copy of the descriptor only: the parent's
        # flock stays (it belongs to the open file, not the process).
        writer.close()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None and self._writer.pid != os.getpid():
                self._writer = None  # the parent's: its descriptor is the parent's to close
            self._close_writer()

    @property
    def segment_name(self) -> str | None:
        writer = self._writer
        return writer.name if writer is not None and writer.pid == os.getpid() else None


# --- Reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    segment: str
    number: int
    #: Where the line ends in its segment: a position at or past it covers the entry.
    end: int
    op: str
    signup_id: int
    at: str
    row: dict[str, Any] | None


@dataclass(frozen=True)
class Damage:
    segment: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = self.segment if self.line is None else f"{self.segment} line {self.line + 1}"
        return f"{where}: {self.problem}"


@dataclass
class Segment:
    name: str
    size: int
    entries: list[Entry] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    key_id: str | None = None
    #: Bytes up to the end of the last complete line.
    complete_bytes: int = 0


def segment_created_at(name: str) -> datetime.datetime | None:
    """When a segment was started, from its name."""
    try:
        return datetime.datetime.strptime(name[8:30], "%Y%m%dT%H%M%S%fZ").replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        return None


def segment_names(directory: Path) -> list[str]:
    """The segments in `directory`, oldest first (the name starts with its creation time)."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(name for name in names if SEGMENT_PATTERN.match(name))


def complete_size(path: Path) -> int:
    """Bytes of `path` up to and including its last newline (a line being written is not in)."""
    with os.fdopen(open_segment(path), "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0
        position = size
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            chunk = handle.read(step)
            index = chunk.rfind(b"\n")
            if index >= 0:
                return position - step + index + 1
            position -= step
        return 0


def read_segment(
    path: Path,
    *,
    mac_keys: dict[str, bytes],
    encryption_keys: dict[str, bytes],
    start: int = 0,
    name: str | None = None,
) -> Segment:
    """Every entry of one segment whose line ends after byte `start`, with what is damaged.

    `mac_keys` maps signing key ids to journal MAC keys. A damaged line is reported and
    skipped; the lines after it are still read, since each carries its own check. `name` is
    the segment's name when `path` is a copy under another name (a download).
    """
    name = name or path.name
    data = read_segment_bytes(path)
    segment = Segment(name=name, size=len(data))
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail:
        segment.damage.append(
            Damage(name, len(lines), "incomplete last line (a write stopped midway); skipped")
        )
    if not lines:
        segment.damage.append(Damage(name, None, "empty segment (no header)"))
        return segment
    header, key, problem = _read_header(name, lines[0], mac_keys)
    if problem:
        segment.damage.append(Damage(name, 0, problem))
        return segment
    segment.key_id = header["key_id"]
    aead = None
    if header.get("encryption_key_id"):
        encryption_key = encryption_keys.get(header["encryption_key_id"])
        if encryption_key is None:
            segment.damage.append(
                Damage(
                    name,
                    None,
                    f"encrypted with key id {header['encryption_key_id']}, which is not in "
                    "BACKUP_ENCRYPTION_KEY or BACKUP_ENCRYPTION_OLD_KEYS; its entries cannot "
                    "be read",
                )
            )
            return segment
        aead = AESGCM(_entry_key(encryption_key, name))
    end = len(lines[0]) + 1
    for number, line in enumerate(lines[1:], start=1):
        end += len(line) + 1
        if end <= start:
            continue
        entry, problem = _read_entry(name, number, end, line, key, aead)
        if problem:
            segment.damage.append(Damage(name, number, problem))
        else:
            segment.entries.append(entry)
    segment.complete_bytes = end
    return segment


def _split(line: bytes) -> tuple[str, bytes] | None:
    mac, space, body = line.partition(b" ")
    if not space or len(mac) != MAC_HEX_CHARS:
        return None
    try:
        return mac.decode("ascii"), body
    except UnicodeDecodeError:
        return None


def _read_header(
    name: str, line: bytes, mac_keys: dict[str, bytes]
) -> tuple[dict[str, Any], bytes, str | None]:
    parts = _split(line)
    try:
        header = json.loads(parts[1]) if parts else None
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("journal") != JOURNAL_FORMAT:
        return {}, b"", "not a journal segment header; the segment is skipped"
    if header.get("segment") != name:
        return (
            {},
            b"",
            f"the header names segment {header.get('segment')!r}: the file was renamed or "
            "copied; the segment is skipped",
        )
    key = mac_keys.get(str(header.get("key_id")))
    if key is None:
        return (
            {},
            b"",
            f"written by another installation, or with a signing key not configured here "
            f"(key id {header.get('key_id')}); give its key with --signing-key-file",
        )
    if not hmac.compare_digest(parts[0], _mac(key, name, 0, parts[1])):
        return {}, b"", "the header fails its check (changed or forged); the segment is skipped"
    return header, key, None


def _read_entry(
    name: str, number: int, end: int, line: bytes, key: bytes, aead: AESGCM | None
) -> tuple[Entry | None, str | None]:
    parts = _split(line)
    if parts is None:
        return None, "not a journal line (corrupted); skipped"
    mac, body = parts
    if not hmac.compare_digest(mac, _mac(key, name, number, body)):
        return None, "fails its check (changed, corrupted or forged); skipped"
    if body.startswith(ENCRYPTED_PREFIX.encode()):
        if aead is None:
            return None, "encrypted, but the segment's header names no encryption key; skipped"
        try:
            blob = base64.b64decode(body[len(ENCRYPTED_PREFIX) :], validate=True)
            body = aead.decrypt(blob[:12], blob[12:], _aad(name, number))
        except (ValueError, InvalidTag):
            return None, "cannot be decrypted; skipped"
    try:
        value = json.loads(body)
        entry = Entry(
            segment=name,
            number=number,
            end=end,
            op=str(value["op"]),
            signup_id=int(value["id"]),
            at=str(value["at"]),
            row=value.get("row"),
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return None, "its entry cannot be read; skipped"
    if entry.op not in ("put", "delete") or (entry.op == "put" and not isinstance(entry.row, dict)):
        return None, f"unknown entry {entry.op!r}; skipped"
    return entry, None


def is_active(path: Path) -> bool:
    """Whether a process still holds `path` open for writing (its flock). NotASegmentFile
    for anything but a regular file."""
    try:
        fd = open_segment(path)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def being_written(path: Path) -> bool:
    """is_active() for callers that treat anything but a live segment (gone, planted) alike."""
    try:
        return is_active(path)
    except OSError:
        return False


def iter_segments(directory: Path) -> Iterator[Path]:
    for name in segment_names(directory):
        yield directory / name
