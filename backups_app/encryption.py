"""Streamed authenticated encryption of backup files, usable without Django (docs/spec.md §8.3).

The format is a STREAM in the manner of age and Tink: AES-256-GCM over 64 KiB chunks, each with
its own tag, a nonce made of a chunk counter and a final-chunk flag, and the whole header as
associated data on every chunk. Reordered, duplicated, spliced, truncated or extended files fail;
a reader hands out a chunk only after its tag has verified, and reports the end of the data only
after the final chunk has verified and nothing follows it.

File layout (all integers big-endian)::

    header  36 bytes  magic b"WLSENC" | version 1 (1 byte) | algorithm 1 = AES-256-GCM (1 byte)
                      | key id (8 bytes) | salt (16 random bytes) | chunk size (4 bytes, 65536)
    chunk i           AES-256-GCM(file key, nonce_i, plaintext_i, aad = header): ciphertext + tag
                      (chunk size + 16 bytes; only the final chunk may be shorter, and it is
                      empty only when the whole payload is)
    file key          HKDF-SHA256(master key, salt, info = b"waitlist-site backup encryption v1")
    nonce_i           i as 11 bytes | 0x01 on the final chunk, 0x00 otherwise

This module imports nothing from Django or from the rest of the project, so the emergency decrypt
works with only Python and `cryptography` installed (the file can even be copied alone)::

    python -m backups_app.encryption decrypt --key-file KEY BACKUP.sql.gz.enc -o BACKUP.sql.gz
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import io
import os
import secrets
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"WLSENC"
VERSION = 1
ALGORITHM_AES_256_GCM = 1
KEY_SIZE = 32
KEY_ID_SIZE = 8
SALT_SIZE = 16
TAG_SIZE = 16
CHUNK_SIZE = 64 * 1024
# A forged header must not make the reader allocate gigabytes for one chunk.
MAX_CHUNK_SIZE = 16 * 1024 * 1024
HEADER_SIZE = len(MAGIC) + 1 + 1 + KEY_ID_SIZE + SALT_SIZE + 4
KEY_ID_LABEL = b"waitlist-site backup key id"
FILE_KEY_INFO = b"waitlist-site backup encryption v1"
COUNTER_SIZE = 11
LAST_COUNTER = 2 ** (8 * COUNTER_SIZE) - 1
KEY_ENVIRONMENT_VARIABLE = "BACKUP_ENCRYPTION_KEY"
OLD_KEYS_ENVIRONMENT_VARIABLE = "BACKUP_ENCRYPTION_OLD_KEYS"


class KeyFormatError(ValueError):
    """A key text or key that is not 32 bytes in an accepted form (never echoes the key)."""


class DecryptionError(ValueError):
    """An encrypted backup that cannot be decrypted: wrong key, damaged, tampered or truncated."""


class ReadableStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class WritableStream(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


# Keys


def generate_key() -> str:
    """A new random key, as urlsafe base64 text (44 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 key bytes in `text`: urlsafe or standard base64 (padding optional) or 64 hex
    digits, surrounding whitespace ignored. Raises KeyFormatError, which never contains `text`."""
    text = text.strip()
    expected = (
        "an encryption key must be 32 random bytes written as base64 (44 characters, "
        "as `genkey` prints) or hex (64 characters)"
    )
    if len(text) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass  # 64 characters may still be base64, of the wrong length; said below.
    standard = text.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"{expected}; this one ({len(text)} characters) is neither valid base64 nor hex"
        ) from None
    if len(key) != KEY_SIZE:
        raise KeyFormatError(f"{expected}; this one holds {len(key)} bytes")
    return key


def key_id(key: bytes) -> str:
    """A short, stable name for `key` (16 hex digits) that reveals nothing usable about it."""
    return hmac.new(key, KEY_ID_LABEL, hashlib.sha256).hexdigest()[: 2 * KEY_ID_SIZE]


def _checked_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        raise KeyFormatError(f"an encryption key must be exactly {KEY_SIZE} bytes")
    return bytes(key)


def _keyring(keys: Mapping[str, bytes] | Iterable[bytes] | bytes) -> dict[str, bytes]:
    """Key id → key. A mapping's ids are recomputed, so a mislabelled key cannot mislead."""
    if isinstance(keys, bytes | bytearray):
        keys = [keys]
    elif isinstance(keys, Mapping):
        keys = keys.values()
    checked = [_checked_key(key) for key in keys]
    return {key_id(key): key for key in checked}


def _file_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=FILE_KEY_INFO).derive(
        master
    )


def _nonce(counter: int, *, final: bool) -> bytes:
    if counter > LAST_COUNTER:
        raise ValueError("too many chunks for one encrypted file")
    return counter.to_bytes(COUNTER_SIZE, "big") + (b"\x01" if final else b"\x00")


# Header


def is_encrypted(head: bytes) -> bool:
    """Whether `head`, the first bytes of a file, start like an encrypted backup."""
    return bytes(head[: len(MAGIC)]) == MAGIC


def _parse_header(head: bytes) -> tuple[str, bytes, int]:
    """(key id, salt, chunk size) of a header, checked as far as it can be without a key."""
    if not head:
        raise DecryptionError("the file is empty: not an encrypted backup")
    if not is_encrypted(head):
        raise DecryptionError("not an encrypted backup (the file does not start with WLSENC)")
    if len(head) < HEADER_SIZE:
        raise DecryptionError(
            f"the file is too short to hold an encrypted backup's header "
            f"({len(head)} of {HEADER_SIZE} bytes): it was truncated"
        )
    head = bytes(head[:HEADER_SIZE])
    position = len(MAGIC)
    version, algorithm = head[position], head[position + 1]
    position += 2
    if version != VERSION:
        raise DecryptionError(
            f"unsupported encrypted backup version {version} (this tool reads version {VERSION})"
        )
    if algorithm != ALGORITHM_AES_256_GCM:
        raise DecryptionError(f"unsupported encryption algorithm {algorithm} in the header")
    file_key_id = head[position : position + KEY_ID_SIZE].hex()
    position += KEY_ID_SIZE
    salt = head[position : position + SALT_SIZE]
    position += SALT_SIZE
    chunk_size = int.from_bytes(head[position : position + 4], "big")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise DecryptionError(
            f"the header gives an impossible chunk size ({chunk_size} bytes): it was changed"
        )
    return file_key_id, salt, chunk_size


def header_key_id(head: bytes) -> str:
    """The id of the key an encrypted file needs, read from its first HEADER_SIZE bytes."""
    return _parse_header(head)[0]


# Writing


class EncryptingWriter:
    """Encrypts what is written to it into `out`, a binary output it never closes.

    Chunks go to `out.write` as they fill. `close()` writes the final chunk; until then the file
    decrypts as truncated, so a writer abandoned by an exception (including leaving a `with`
    block through one) never yields a file that looks complete. `size` counts the bytes written
    to `out`.
    """

    def __init__(self, out: WritableStream, key: bytes, *, chunk_size: int = CHUNK_SIZE) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes")
        key = _checked_key(key)
        self._out = out
        self._chunk_size = chunk_size
        salt = secrets.token_bytes(SALT_SIZE)
        self._header = b"".join(
            [
                MAGIC,
                bytes([VERSION, ALGORITHM_AES_256_GCM]),
                bytes.fromhex(key_id(key)),
                salt,
                chunk_size.to_bytes(4, "big"),
            ]
        )
        self._aead = AESGCM(_file_key(key, salt))
        self._counter = 0
        # A full chunk waits here until more data arrives: only then is it known not to be the
        # final one, which must carry the final flag.
        self._pending = bytearray()
        self._closed = False
        self._broken = False
        self.size = 0
        self._emit(self._header)

    @property
    def closed(self) -> bool:
        return self._closed

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        """Encrypt `data` (any bytes-like object); returns its length."""
        self._check_usable()
        view = memoryview(data).cast("B")
        length, position = len(view), 0
        pending, chunk_size = self._pending, self._chunk_size
        while position < length:
            if len(pending) == chunk_size:
                self._seal(final=False)
            take = min(chunk_size - len(pending), length - position)
            pending += view[position : position + take]
            position += take
        return length

    def flush(self) -> None:
        """Flush `out`. The pending chunk stays pending: a chunk is sealed only when full."""
        self._check_usable()
        self._flush_out()

    def close(self) -> None:
        """Write the final chunk and flush `out` (left open). Closing twice does nothing."""
        if self._closed:
            return
        self._check_usable()
        self._seal(final=True)
        self._closed = True
        self._flush_out()

    def _flush_out(self) -> None:
        flush = getattr(self._out, "flush", None)
        if flush is not None:
            flush()

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            # Leave the file without its final chunk, so it can never pass for complete.
            self._closed = True

    def _check_usable(self) -> None:
        if self._closed:
            raise ValueError("the EncryptingWriter is closed")
        if self._broken:
            raise ValueError("the EncryptingWriter's output failed earlier; the file is unusable")

    def _seal(self, *, final: bool) -> None:
        nonce = _nonce(self._counter, final=final)
        self._emit(self._aead.encrypt(nonce, self._pending, self._header))
        self._pending.clear()
        self._counter += 1

    def _emit(self, blob: bytes) -> None:
        total = len(blob)
        try:
            written = self._out.write(blob)
            # Buffered files write everything; a raw file may write part of it.
            while written is not None and written < len(blob):
                if written <= 0:
                    raise OSError("the output accepted no bytes")
                blob = blob[written:]
                written = self._out.write(blob)
        except BaseException:
            self._broken = True
            raise
        self.size += total


# Reading


class DecryptingReader(io.RawIOBase):
    """Authenticated plaintext of the encrypted backup in `source`, a binary input it never closes.

    `keys` maps key ids to keys, or is an iterable of keys; the header says which one the file
    needs. The header is read and checked on construction. Each chunk is verified before any of
    its bytes are returned, and end of file (b"") comes only once the final chunk has verified
    and nothing follows it, so a consumer that reads to the end has read the whole, untouched
    file. The first problem raises DecryptionError, and so does every read after it.

    Works as the `fileobj` of `gzip.GzipFile`, under `io.BufferedReader` and with
    `shutil.copyfileobj`.
    """

    def __init__(
        self, source: ReadableStream, keys: Mapping[str, bytes] | Iterable[bytes] | bytes
    ) -> None:
        super().__init__()
        keyring = _keyring(keys)
        self._source = source
        header = _read_up_to(source, HEADER_SIZE)
        self.key_id, salt, self.chunk_size = _parse_header(header)
        if self.key_id not in keyring:
            available = ", ".join(sorted(keyring)) or "none"
            raise DecryptionError(
                f"this backup was encrypted with key id {self.key_id}, which is not among the "
                f"keys given (key ids: {available})"
            )
        self._aead = AESGCM(_file_key(keyring[self.key_id], salt))
        self._header = header
        self._counter = 0
        self._lookahead = b""
        self._plaintext = memoryview(b"")
        self._finished = False
        self._error: DecryptionError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._next_plaintext()
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(chunk))
        target[:count] = chunk[:count]
        self._plaintext = chunk[count:]
        return count

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        chunk = self._next_plaintext() if size else memoryview(b"")
        self._plaintext = chunk[size:]
        return bytes(chunk[:size])

    def readall(self) -> bytes:
        parts = []
        while chunk := self._next_plaintext():
            parts.append(bytes(chunk))
            self._plaintext = memoryview(b"")
        return b"".join(parts)

    def _next_plaintext(self) -> memoryview:
        """The unread plaintext of the current chunk, decrypting the next one when it is used
        up; empty only at the verified end."""
        if self.closed:
            raise ValueError("read from a closed DecryptingReader")
        if self._error is not None:
            raise self._error
        try:
            while not self._plaintext and not self._finished:
                self._plaintext = memoryview(self._decrypt_next_chunk())
        except DecryptionError as error:
            self._error = error
            raise
        return self._plaintext

    def _decrypt_next_chunk(self) -> bytes:
        stored_size = self.chunk_size + TAG_SIZE
        # One byte more than a chunk tells whether another chunk follows this one.
        data = self._lookahead + _read_up_to(self._source, stored_size + 1 - len(self._lookahead))
        final = len(data) <= stored_size
        chunk, self._lookahead = (data, b"") if final else (data[:stored_size], data[stored_size:])
        index = self._counter
        if len(chunk) < TAG_SIZE:
            raise DecryptionError(
                f"the file was truncated: it ends inside chunk {index}, before its final chunk"
            )
        try:
            plaintext = self._aead.decrypt(_nonce(index, final=final), chunk, self._header)
        except InvalidTag:
            raise self._diagnose(chunk, index, final=final) from None
        if final and index > 0 and not plaintext:
            raise DecryptionError(f"chunk {index} is an empty final chunk after data: forged")
        self._counter += 1
        self._finished = final
        return plaintext

    def _diagnose(self, chunk: bytes, index: int, *, final: bool) -> DecryptionError:
        """The clearest error for a chunk that failed: the other flag tells truncation and
        trailing data apart from damage."""
        try:
            self._aead.decrypt(_nonce(index, final=not final), chunk, self._header)
        except InvalidTag:
            start = HEADER_SIZE + index * (self.chunk_size + TAG_SIZE)
            return DecryptionError(
                f"chunk {index} (from byte {start}) failed authentication: the file was "
                "changed, damaged or truncated"
            )
        if final:
            return DecryptionError(
                f"the file was truncated: it ends after chunk {index} without its final chunk"
            )
        return DecryptionError(
            f"the file has data after the final chunk (chunk {index}): it was changed"
        )


def _read_up_to(source: ReadableStream, size: int) -> bytes:
    """`size` bytes from `source`, or fewer only at end of file (pipes return short reads)."""
    data = source.read(size)
    if not data or len(data) == size:
        return bytes(data or b"")
    parts = [data]
    missing = size - len(data)
    while missing:
        more = source.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


# Whole streams


def encrypt_file(
    source: ReadableStream, destination: WritableStream, key: bytes, *, chunk_size: int = CHUNK_SIZE
) -> int:
    """Encrypt all of `source` into `destination` (neither is closed); returns the bytes
    written to `destination`."""
    writer = EncryptingWriter(destination, key, chunk_size=chunk_size)
    with writer:
        while block := source.read(chunk_size):
            writer.write(block)
    return writer.size


def decrypt_file(
    source: ReadableStream,
    destination: WritableStream,
    keys: Mapping[str, bytes] | Iterable[bytes] | bytes,
) -> int:
    """Decrypt all of `source` into `destination` (neither is closed); returns the plaintext
    size. Raises DecryptionError at the first problem, after writing only verified chunks, so
    `destination` is complete only when this returns: write it somewhere provisional."""
    reader = DecryptingReader(source, keys)
    total = 0
    while chunk := reader.read(reader.chunk_size):
        destination.write(chunk)
        total += len(chunk)
    return total


# Command line


class CommandLineError(Exception):
    """A problem the command line reports in one line and exits on."""


def _key_texts(key_files: list[str] | None, *, old_keys: bool) -> list[str]:
    if key_files:
        texts = []
        for name in key_files:
            try:
                texts.append(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as err:
                raise CommandLineError(f"cannot read the key file {name}: {err}") from err
        return texts
    texts = [os.environ.get(KEY_ENVIRONMENT_VARIABLE, "")]
    if old_keys:
        texts += os.environ.get(OLD_KEYS_ENVIRONMENT_VARIABLE, "").split(",")
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise CommandLineError(
            f"no key: give --key-file FILE or set {KEY_ENVIRONMENT_VARIABLE} "
            "(keys are never taken from the command line)"
        )
    return texts


def _keys(key_files: list[str] | None, *, old_keys: bool = False) -> list[bytes]:
    keys = []
    for text in _key_texts(key_files, old_keys=old_keys):
        try:
            keys.append(parse_key(text))
        except KeyFormatError as err:
            origin = "a key file" if key_files else "the environment"
            raise CommandLineError(f"bad key in {origin}: {err}") from None
    return keys


class _ProvisionalOutput:
    """A temporary file beside `path` (mode 0600), renamed to `path` only by `commit()`, and
    removed otherwise, so a failed run never leaves a plausible output."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        handle, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
        )
        self.temporary = Path(name)
        self.file = os.fdopen(handle, "wb")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def _run(arguments: argparse.Namespace) -> None:
    if arguments.command == "genkey":
        print(generate_key())
        return
    if arguments.command == "keyid":
        for key in _keys(arguments.key_file):
            print(key_id(key))
        return

    decrypting = arguments.command == "decrypt"
    keys = _keys(arguments.key_file, old_keys=decrypting)
    if not decrypting and len(keys) > 1:
        raise CommandLineError("encrypt takes one key: give --key-file once")
    try:
        source = open(arguments.input, "rb") if arguments.input else sys.stdin.buffer  # noqa: SIM115
    except OSError as err:
        raise CommandLineError(f"cannot read {arguments.input}: {err.strerror}") from err
    try:
        output = _ProvisionalOutput(arguments.output) if arguments.output else None
    except OSError as err:
        raise CommandLineError(f"cannot write beside {arguments.output}: {err.strerror}") from err
    destination = output.file if output else sys.stdout.buffer
    try:
        if decrypting:
            decrypt_file(source, destination, keys)
        else:
            encrypt_file(source, destination, keys[0])
        if output:
            output.commit()
        else:
            destination.flush()
    except BaseException:
        if output:
            output.discard()
        raise
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backups_app.encryption",
        description="Encrypt and decrypt waitlist-site backups (no Django needed). Keys come "
        f"from --key-file or {KEY_ENVIRONMENT_VARIABLE}, never from the command line.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("genkey", help="print a new random key")
    keyid = commands.add_parser("keyid", help="print the id of each key given")
    keyid.add_argument(
        "--key-file",
        action="append",
        help=f"file holding a key (may be repeated; default: {KEY_ENVIRONMENT_VARIABLE})",
    )
    for name, help_text, key_help in (
        (
            "encrypt",
            "encrypt INPUT (or stdin) with the key",
            f"file holding the key (default: {KEY_ENVIRONMENT_VARIABLE})",
        ),
        (
            "decrypt",
            "decrypt INPUT (or stdin) with whichever given key it needs",
            "file holding a key; repeat it for old keys (default: "
            f"{KEY_ENVIRONMENT_VARIABLE} and the comma-separated {OLD_KEYS_ENVIRONMENT_VARIABLE})",
        ),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--key-file", action="append", help=key_help)
        command.add_argument("input", nargs="?", metavar="INPUT", help="default: stdin")
        command.add_argument(
            "-o", "--output", help="write here, only once complete (default: stdout)"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    to_stdout = arguments.command in ("encrypt", "decrypt") and not arguments.output
    try:
        _run(arguments)
    except (CommandLineError, KeyFormatError, DecryptionError, OSError) as err:
        message = str(err)
        if isinstance(err, OSError) and not isinstance(err, BrokenPipeError):
            message = f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")
        if isinstance(err, BrokenPipeError):
            message = "the output was closed before the end"
            # Python would complain again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if (
            to_stdout
            and arguments.command == "decrypt"
            and isinstance(err, DecryptionError | OSError)
        ):
            message += "; the output written so far is incomplete and must not be used"
        print(f"{_parser().prog}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_parser().prog}: interrupted; no output file was kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
