"""Writing a dump to disk while it is taken: checksum, gzip and encryption as streams (§4.1).

A backup is signed over the bytes as stored, so these helpers hash exactly what lands in the
file, in the same pass that writes it: the dump is never read back a second time. They are I/O
helpers for `services.create`, with no catalogue or database of their own.
"""

import gzip
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import IO

from backups_app import encryption, files
from backups_app.exceptions import DumpError

GZIP_LEVEL = 3  # most of level 9's saving on SQL text, at a fraction of its time
TAIL_BYTES = 4096


@dataclass(frozen=True)
class StoredDump:
    """The file as stored: its size and SHA-256, and the last bytes of its SQL."""

    size: int
    sha256: str
    tail: bytes


class FollowingDigest:
    """Checksums a file while another process is still appending to it.

    The dump program writes on one core while this thread hashes what has landed on the other,
    so the checksum costs almost nothing on top of the dump. Yields a holder whose `.result`
    (size, SHA-256, tail) is set on exit.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.finished = threading.Event()
        self.digest = hashlib.sha256()
        self.size = 0
        self.tail = b""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> "FollowingDigest":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.handle.flush()  # the Python fallback dumper writes through our buffer
        self.finished.set()
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise DumpError(f"Reading the dump back failed: {self.error}") from self.error

    @property
    def result(self) -> StoredDump:
        return StoredDump(size=self.size, sha256=self.digest.hexdigest(), tail=self.tail)

    def _follow(self) -> None:
        # Reads through our own descriptor (pread), never by name: the name could be made to
        # point at another file, whose bytes would then be the ones signed.
        fd = self.handle.fileno()
        try:
            while True:
                done = self.finished.is_set()  # read once more after the writer is done
                chunk = os.pread(fd, files.CHUNK_SIZE, self.size)
                if chunk:
                    self.digest.update(chunk)
                    self.size += len(chunk)
                    self.tail = (self.tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
                elif done:
                    return
                else:
                    time.sleep(0.002)
        except OSError as err:
            self.error = err


class HashingWriter:
    """Writes to the file and hashes exactly what is stored (here: gzip's output)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class DumpSink:
    """Takes the dump's SQL (no fileno, so engines pipe into it), gzips and/or encrypts it into
    the file, and hashes exactly what is stored."""

    def __init__(self, handle: IO[bytes], *, gzip_it: bool, key: bytes | None) -> None:
        self.stored = HashingWriter(handle)
        self.encrypted = encryption.EncryptingWriter(self.stored, key) if key else None
        target = self.encrypted or self.stored
        self.gzip = (
            gzip.GzipFile(fileobj=target, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
            if gzip_it
            else None
        )
        self.first = self.gzip or target
        self.tail = b""

    def write(self, data: bytes) -> int:
        self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        self.first.write(data)
        return len(data)

    def flush(self) -> None:
        pass  # the layers flush on close(); a dump's flush must not cut a chunk short

    def close(self) -> StoredDump:
        if self.gzip is not None:
            self.gzip.close()
        if self.encrypted is not None:
            self.encrypted.close()
        return StoredDump(
            size=self.stored.size, sha256=self.stored.digest.hexdigest(), tail=self.tail
        )
