"""The encrypted backup format: round trips, every kind of damage, keys, and the CLI without Django.

These tests need no database: the module is pure and must stay importable without Django.
"""

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backups_app.encryption import (
    CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    KeyFormatError,
    decrypt_file,
    encrypt_file,
    generate_key,
    header_key_id,
    is_encrypted,
    key_id,
    parse_key,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
STORED_CHUNK = CHUNK_SIZE + TAG_SIZE

SIZES = {
    "empty": 0,
    "one byte": 1,
    "one chunk less one byte": CHUNK_SIZE - 1,
    "exactly one chunk": CHUNK_SIZE,
    "one chunk and one byte": CHUNK_SIZE + 1,
    "exactly three chunks": 3 * CHUNK_SIZE,
    "several chunks and a tail": 4 * CHUNK_SIZE + 1234,
}


@pytest.fixture
def key() -> bytes:
    return parse_key(generate_key())


@pytest.fixture
def other_key() -> bytes:
    return parse_key(generate_key())


def payload(size: int) -> bytes:
    """Incompressible bytes, so gzip inside does not shrink a test below a chunk."""
    return os.urandom(size)


def encrypt(data: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    writer.write(data)
    writer.close()
    return out.getvalue()


def decrypt(blob: bytes, keys) -> bytes:
    return DecryptingReader(io.BytesIO(blob), keys).read()


def read_until_error(blob: bytes, keys) -> tuple[bytes, DecryptionError]:
    """Everything the reader hands out before it fails, and the error it fails with."""
    reader = DecryptingReader(io.BytesIO(blob), keys)
    received = bytearray()
    with pytest.raises(DecryptionError) as caught:
        while block := reader.read(1000):
            received += block
    return bytes(received), caught.value


def chunk_start(index: int) -> int:
    return HEADER_SIZE + index * STORED_CHUNK


def flip(blob: bytes, offset: int) -> bytes:
    changed = bytearray(blob)
    changed[offset] ^= 0x01
    return bytes(changed)


# Round trips


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_round_trip_returns_the_plaintext(key, size):
    data = payload(size)

    blob = encrypt(data, key)

    assert decrypt(blob, [key]) == data


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_stored_size_is_header_plus_one_tag_per_chunk(key, size):
    data = payload(size)
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    writer.write(data)
    writer.close()

    chunks = max(1, -(-size // CHUNK_SIZE))
    assert writer.size == len(out.getvalue()) == HEADER_SIZE + size + chunks * TAG_SIZE


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_round_trip_with_gzip_inside(key, size):
    data = payload(size)
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    with gzip.GzipFile(fileobj=writer, mode="wb") as compressed:
        compressed.write(data)
    writer.close()

    with gzip.GzipFile(fileobj=DecryptingReader(io.BytesIO(out.getvalue()), [key])) as plain:
        assert plain.read() == data


def test_many_small_writes_give_the_same_plaintext(key):
    data = payload(3 * CHUNK_SIZE + 5)
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    for start in range(0, len(data), 7777):
        assert writer.write(data[start : start + 7777]) == len(data[start : start + 7777])
    writer.close()

    assert decrypt(out.getvalue(), [key]) == data


class Trickle:
    """A pipe-like stream: each read returns at most 1000 bytes, each write takes at most 1000."""

    def __init__(self, data: bytes = b"") -> None:
        self.source = io.BytesIO(data)
        self.received = bytearray()

    def read(self, size: int = -1) -> bytes:
        return self.source.read(min(size, 1000) if size >= 0 else 1000)

    def write(self, data) -> int:
        self.received += bytes(data[:1000])
        return min(len(data), 1000)


class HashingOutput:
    """What the caller wraps the output in: hashes the stored bytes, returns nothing."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.stored = io.BytesIO()

    def write(self, data) -> None:
        self.digest.update(data)
        self.stored.write(data)


def test_writer_handles_an_output_that_takes_part_of_each_write(key):
    data = payload(2 * CHUNK_SIZE + 3)
    out = Trickle()
    writer = EncryptingWriter(out, key)
    writer.write(data)
    writer.close()

    assert writer.size == len(out.received)
    assert decrypt(bytes(out.received), [key]) == data


def test_writer_output_can_be_hashed_by_a_wrapper(key):
    out = HashingOutput()
    writer = EncryptingWriter(out, key)
    writer.write(payload(CHUNK_SIZE + 1))
    writer.close()

    stored = out.stored.getvalue()
    assert out.digest.hexdigest() == hashlib.sha256(stored).hexdigest()
    assert writer.size == len(stored)


def test_reader_handles_a_source_that_returns_short_reads(key):
    data = payload(2 * CHUNK_SIZE + 3)
    reader = DecryptingReader(Trickle(encrypt(data, key)), [key])

    assert reader.read() == data


def test_reader_works_through_buffered_reader_and_copyfileobj(key):
    data = payload(2 * CHUNK_SIZE + 99)
    reader = io.BufferedReader(DecryptingReader(io.BytesIO(encrypt(data, key)), [key]))
    copied = io.BytesIO()

    shutil.copyfileobj(reader, copied, 10_000)

    assert copied.getvalue() == data


def test_readinto_fills_a_caller_buffer(key):
    data = payload(CHUNK_SIZE + 10)
    reader = DecryptingReader(io.BytesIO(encrypt(data, key)), [key])
    buffer = bytearray(CHUNK_SIZE * 2)
    received = bytearray()

    while count := reader.readinto(buffer):
        received += buffer[:count]

    assert received == data


def test_encrypt_file_and_decrypt_file_stream_between_files(key, tmp_path):
    data = payload(2 * CHUNK_SIZE + 3)
    (tmp_path / "plain").write_bytes(data)

    with (tmp_path / "plain").open("rb") as source, (tmp_path / "enc").open("wb") as target:
        stored = encrypt_file(source, target, key)
    with (tmp_path / "enc").open("rb") as source, (tmp_path / "out").open("wb") as target:
        restored = decrypt_file(source, target, [key])

    assert stored == (tmp_path / "enc").stat().st_size
    assert restored == len(data)
    assert (tmp_path / "out").read_bytes() == data


def test_writer_close_leaves_the_output_open(key):
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    writer.write(b"signup")
    writer.close()
    writer.close()

    assert writer.closed
    assert not out.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_writer_abandoned_by_an_exception_writes_no_final_chunk(key):
    """A dump that fails half-way must not become a file that decrypts as complete."""
    out = io.BytesIO()
    with pytest.raises(RuntimeError), EncryptingWriter(out, key) as writer:
        writer.write(payload(CHUNK_SIZE + 10))
        raise RuntimeError("the dump failed")

    _, error = read_until_error(out.getvalue(), [key])
    assert "final chunk" in str(error)


def test_each_file_has_its_own_salt(key):
    first, second = encrypt(b"same", key), encrypt(b"same", key)

    assert first[:HEADER_SIZE] != second[:HEADER_SIZE]
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]


# Keys


def test_key_is_accepted_in_each_text_form(key):
    forms = {
        "urlsafe base64": base64.urlsafe_b64encode(key).decode(),
        "standard base64": base64.b64encode(key).decode(),
        "hex": key.hex(),
        "upper-case hex": key.hex().upper(),
        "urlsafe base64 without padding": base64.urlsafe_b64encode(key).decode().rstrip("="),
        "with surrounding whitespace": "  " + base64.urlsafe_b64encode(key).decode() + "\n",
    }

    for form, text in forms.items():
        assert parse_key(text) == key, form


def test_generated_key_is_urlsafe_base64_of_32_random_bytes():
    text = generate_key()

    assert len(text) == 44
    assert len(base64.urlsafe_b64decode(text)) == 32
    assert generate_key() != text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hunter2-not-a-key",
        base64.urlsafe_b64encode(b"k" * 31).decode(),
        base64.urlsafe_b64encode(b"k" * 33).decode(),
        "zz" * 32,
        "!" * 44,
        "ab$d" * 11,
    ],
    ids=["empty", "password", "31 bytes", "33 bytes", "not hex", "not base64", "bad character"],
)
def test_bad_key_text_is_a_clear_error_that_does_not_echo_it(text):
    with pytest.raises(KeyFormatError) as caught:
        parse_key(text)

    message = str(caught.value)
    assert "32" in message
    if text:
        assert text not in message


def test_key_id_is_short_stable_and_distinct(key, other_key):
    assert key_id(key) == key_id(bytes(key))
    assert len(key_id(key)) == 16
    int(key_id(key), 16)
    assert key_id(key) != key_id(other_key)
    assert key.hex()[:16] != key_id(key)


def test_header_names_the_key_id_and_is_recognised(key):
    blob = encrypt(b"signup", key)

    assert is_encrypted(blob[:HEADER_SIZE])
    assert header_key_id(blob[:HEADER_SIZE]) == key_id(key)
    assert not is_encrypted(gzip.compress(b"signup"))
    assert not is_encrypted(b"-- PostgreSQL database dump")
    assert not is_encrypted(b"")
    with pytest.raises(DecryptionError, match="not an encrypted backup"):
        header_key_id(b"-- PostgreSQL database dump" + b"\0" * HEADER_SIZE)
    with pytest.raises(DecryptionError, match="header"):
        header_key_id(blob[: HEADER_SIZE - 1])


def test_wrong_key_is_a_clear_error_naming_the_key_ids(key, other_key):
    blob = encrypt(b"signup", key)

    with pytest.raises(DecryptionError) as caught:
        DecryptingReader(io.BytesIO(blob), [other_key])

    message = str(caught.value)
    assert key_id(key) in message
    assert key_id(other_key) in message


def test_no_key_at_all_is_a_clear_error(key):
    with pytest.raises(DecryptionError, match=key_id(key)):
        DecryptingReader(io.BytesIO(encrypt(b"signup", key)), [])


def test_old_and_new_keys_decrypt_files_of_either(key, other_key):
    old_file = encrypt(b"before rotation", key)
    new_file = encrypt(b"after rotation", other_key)
    keyring = {key_id(other_key): other_key, key_id(key): key}

    assert decrypt(old_file, keyring) == b"before rotation"
    assert decrypt(new_file, keyring) == b"after rotation"
    assert decrypt(old_file, [other_key, key]) == b"before rotation"


def test_a_key_of_the_wrong_length_is_refused(key):
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptingWriter(io.BytesIO(), key[:16])
    with pytest.raises(ValueError, match="32 bytes"):
        DecryptingReader(io.BytesIO(encrypt(b"x", key)), [key[:16]])


# Damage


def test_decryption_error_is_a_value_error():
    assert issubclass(DecryptionError, ValueError)


def test_plain_data_is_not_an_encrypted_backup(key):
    with pytest.raises(DecryptionError, match="not an encrypted backup"):
        DecryptingReader(io.BytesIO(gzip.compress(b"x" * 100)), [key])


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, "not an encrypted backup"),
        (6, "version"),
        (7, "algorithm"),
        (8, "key"),
        (20, "authentication"),
        (HEADER_SIZE - 1, "chunk"),
    ],
    ids=["magic", "version", "algorithm", "key id", "salt", "chunk size"],
)
def test_tampered_header_is_rejected_before_any_plaintext(key, offset, expected):
    blob = flip(encrypt(payload(2 * CHUNK_SIZE), key), offset)

    with pytest.raises(DecryptionError, match=expected):
        decrypt(blob, [key])


@pytest.mark.parametrize("where", ["middle chunk", "last chunk"])
def test_tampered_chunk_is_rejected_and_none_of_it_is_returned(key, where):
    data = payload(4 * CHUNK_SIZE + 500)
    index = 2 if where == "middle chunk" else 4
    blob = flip(encrypt(data, key), chunk_start(index) + 10)

    received, error = read_until_error(blob, [key])

    assert received == data[: index * CHUNK_SIZE]
    assert f"chunk {index}" in str(error)
    assert "authentication" in str(error)


def test_tampered_tag_is_rejected(key):
    blob = encrypt(payload(100), key)

    with pytest.raises(DecryptionError, match="authentication"):
        decrypt(flip(blob, len(blob) - 1), [key])


@pytest.mark.parametrize("chunks", [1, 3])
def test_truncation_at_a_chunk_boundary_is_detected(key, chunks):
    data = payload(5 * CHUNK_SIZE + 10)
    blob = encrypt(data, key)[: chunk_start(chunks)]

    received, error = read_until_error(blob, [key])

    assert "truncated" in str(error)
    assert "final chunk" in str(error)
    assert received == data[: (chunks - 1) * CHUNK_SIZE]


@pytest.mark.parametrize(
    "cut",
    [HEADER_SIZE + 5, chunk_start(1) + 100, chunk_start(2) + TAG_SIZE - 1],
    ids=["inside the first chunk", "inside the second chunk", "inside the last chunk"],
)
def test_truncation_inside_a_chunk_is_detected(key, cut):
    blob = encrypt(payload(2 * CHUNK_SIZE + 100), key)[:cut]

    with pytest.raises(DecryptionError):
        decrypt(blob, [key])


@pytest.mark.parametrize("cut", [0, 3, HEADER_SIZE - 1, HEADER_SIZE])
def test_truncation_in_or_right_after_the_header_is_detected(key, cut):
    blob = encrypt(payload(10), key)[:cut]

    with pytest.raises(DecryptionError):
        decrypt(blob, [key])


@pytest.mark.parametrize(
    ("size", "garbage"),
    [
        (CHUNK_SIZE, b"\0"),
        (2 * CHUNK_SIZE, os.urandom(STORED_CHUNK)),
        (CHUNK_SIZE + 7, b"\0"),
        (10, os.urandom(3 * STORED_CHUNK)),
        (0, b"x"),
    ],
    ids=[
        "one byte after a full final chunk",
        "a chunk after a full final chunk",
        "one byte after a short final chunk",
        "chunks after a short final chunk",
        "one byte after an empty payload",
    ],
)
def test_bytes_after_the_final_chunk_are_rejected(key, size, garbage):
    blob = encrypt(payload(size), key) + garbage

    with pytest.raises(DecryptionError):
        decrypt(blob, [key])


def test_bytes_after_a_full_final_chunk_are_named_as_such(key):
    blob = encrypt(payload(2 * CHUNK_SIZE), key) + b"extra"

    with pytest.raises(DecryptionError, match="after the final chunk"):
        decrypt(blob, [key])


def test_swapped_chunks_are_rejected(key):
    data = payload(3 * CHUNK_SIZE + 1)
    blob = encrypt(data, key)
    first, second = (blob[chunk_start(i) : chunk_start(i + 1)] for i in (0, 1))
    swapped = blob[:HEADER_SIZE] + second + first + blob[chunk_start(2) :]

    received, error = read_until_error(swapped, [key])

    assert received == b""
    assert "chunk 0" in str(error)


def test_duplicated_chunk_is_rejected(key):
    data = payload(3 * CHUNK_SIZE + 1)
    blob = encrypt(data, key)
    duplicated = blob[: chunk_start(2)] + blob[chunk_start(1) :]

    received, error = read_until_error(duplicated, [key])

    assert received == data[: 2 * CHUNK_SIZE]
    assert "chunk 2" in str(error)


def test_chunk_from_another_file_under_the_same_key_is_rejected(key):
    first = encrypt(payload(2 * CHUNK_SIZE + 1), key)
    second = encrypt(payload(2 * CHUNK_SIZE + 1), key)
    spliced = first[: chunk_start(1)] + second[chunk_start(1) :]

    with pytest.raises(DecryptionError, match="chunk 1"):
        decrypt(spliced, [key])


def test_error_is_raised_again_on_the_next_read(key):
    blob = encrypt(payload(CHUNK_SIZE + 1), key)[: chunk_start(1)]
    reader = DecryptingReader(io.BytesIO(blob), [key])

    for _ in range(2):
        with pytest.raises(DecryptionError, match="truncated"):
            reader.read()


def test_gzip_over_a_truncated_file_fails_instead_of_ending_early(key):
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    with gzip.GzipFile(fileobj=writer, mode="wb") as compressed:
        compressed.write(payload(3 * CHUNK_SIZE))
    writer.close()
    blob = out.getvalue()[: chunk_start(2)]

    with (
        pytest.raises(DecryptionError, match="truncated"),
        gzip.GzipFile(fileobj=DecryptingReader(io.BytesIO(blob), [key])) as plain,
    ):
        plain.read()


# The command line, in a fresh interpreter with an empty environment and no Django


@pytest.fixture
def django_blocker(tmp_path) -> Path:
    """A `django` package that fails on import, placed ahead of the real one on the path."""
    folder = tmp_path / "blocker"
    (folder / "django").mkdir(parents=True)
    (folder / "django" / "__init__.py").write_text(
        'raise ImportError("the encryption tool must work without Django")\n'
    )
    return folder


@pytest.fixture
def cli(django_blocker):
    """Run `python -m backups_app.encryption` as `env -i PATH=...` would: nothing else set."""

    def run(*args: str, stdin: bytes = b"", **variables: str) -> subprocess.CompletedProcess:
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        environment["PYTHONPATH"] = str(django_blocker)
        environment.update(variables)
        return subprocess.run(
            [sys.executable, "-m", "backups_app.encryption", *args],
            cwd=PROJECT_DIR,
            env=environment,
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    return run


@pytest.fixture
def key_file(cli, tmp_path) -> Path:
    result = cli("genkey")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "backup.key"
    path.write_bytes(result.stdout)
    return path


def test_django_blocker_really_blocks_django(django_blocker):
    result = subprocess.run(
        [sys.executable, "-c", "import django"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(django_blocker)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "without Django" in result.stderr


def test_cli_genkey_prints_a_usable_key(cli):
    result = cli("genkey")

    assert result.returncode == 0, result.stderr
    assert len(parse_key(result.stdout.decode())) == 32


def test_cli_keyid_prints_the_key_id_from_a_file_or_the_environment(cli, key_file):
    expected = key_id(parse_key(key_file.read_text()))

    from_file = cli("keyid", "--key-file", str(key_file))
    from_environment = cli("keyid", BACKUP_ENCRYPTION_KEY=key_file.read_text().strip())

    assert from_file.stdout.decode().strip() == expected
    assert from_environment.stdout.decode().strip() == expected


def test_cli_round_trip_through_files_without_django(cli, key_file, tmp_path):
    data = gzip.compress(payload(3 * CHUNK_SIZE + 11))
    (tmp_path / "backup.sql.gz").write_bytes(data)
    encrypted, restored = tmp_path / "backup.sql.gz.enc", tmp_path / "restored.sql.gz"

    encrypt_run = cli(
        "encrypt",
        "--key-file",
        str(key_file),
        str(tmp_path / "backup.sql.gz"),
        "-o",
        str(encrypted),
    )
    decrypt_run = cli("decrypt", "--key-file", str(key_file), str(encrypted), "-o", str(restored))

    assert encrypt_run.returncode == 0, encrypt_run.stderr
    assert decrypt_run.returncode == 0, decrypt_run.stderr
    assert header_key_id(encrypted.read_bytes()) == key_id(parse_key(key_file.read_text()))
    assert restored.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_cli_round_trip_through_pipes_with_the_key_in_the_environment(cli, key_file):
    data = payload(CHUNK_SIZE * 2)
    key_text = key_file.read_text().strip()

    encrypted = cli("encrypt", stdin=data, BACKUP_ENCRYPTION_KEY=key_text)
    decrypted = cli("decrypt", stdin=encrypted.stdout, BACKUP_ENCRYPTION_KEY=key_text)

    assert encrypted.returncode == 0, encrypted.stderr
    assert is_encrypted(encrypted.stdout)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == data


def test_cli_failed_decrypt_to_a_file_leaves_no_output(cli, key_file, tmp_path):
    data = payload(3 * CHUNK_SIZE)
    blob = encrypt(data, parse_key(key_file.read_text()))
    (tmp_path / "tampered.enc").write_bytes(flip(blob, chunk_start(2) + 1))
    output = tmp_path / "restored.sql"

    result = cli(
        "decrypt", "--key-file", str(key_file), str(tmp_path / "tampered.enc"), "-o", str(output)
    )

    assert result.returncode != 0
    assert "chunk 2" in result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.key", "blocker", "tampered.enc"]


def test_cli_failed_decrypt_to_stdout_says_the_output_is_incomplete(cli, key_file):
    blob = encrypt(payload(3 * CHUNK_SIZE), parse_key(key_file.read_text()))

    result = cli("decrypt", "--key-file", str(key_file), stdin=blob[: chunk_start(2)])

    assert result.returncode != 0
    assert "truncated" in result.stderr.decode()
    assert "incomplete" in result.stderr.decode()


def test_cli_wrong_key_names_the_key_id_the_file_needs(cli, key_file, key):
    blob = encrypt(b"signup", key)

    result = cli("decrypt", "--key-file", str(key_file), stdin=blob)

    assert result.returncode != 0
    assert key_id(key) in result.stderr.decode()
    assert result.stdout == b""


def test_cli_decrypts_with_an_old_key_from_the_environment(cli, key, other_key):
    blob = encrypt(b"before rotation", key)
    old_keys = f"{base64.b64encode(other_key).decode()},{key.hex()}"

    result = cli(
        "decrypt",
        stdin=blob,
        BACKUP_ENCRYPTION_KEY=generate_key(),
        BACKUP_ENCRYPTION_OLD_KEYS=old_keys,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before rotation"


def test_cli_reencrypts_an_old_backup_under_a_new_key_through_a_pipe(
    cli, key, other_key, tmp_path, django_blocker
):
    data = payload(2 * CHUNK_SIZE + 1)
    (tmp_path / "old.enc").write_bytes(encrypt(data, key))
    (tmp_path / "old.key").write_text(key.hex())
    (tmp_path / "new.key").write_text(base64.urlsafe_b64encode(other_key).decode())
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(django_blocker)}
    tool = [sys.executable, "-m", "backups_app.encryption"]

    decrypting = subprocess.Popen(
        [*tool, "decrypt", "--key-file", str(tmp_path / "old.key"), str(tmp_path / "old.enc")],
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.PIPE,
    )
    encrypting = subprocess.run(
        [
            *tool,
            "encrypt",
            "--key-file",
            str(tmp_path / "new.key"),
            "-o",
            str(tmp_path / "new.enc"),
        ],
        cwd=PROJECT_DIR,
        env=environment,
        stdin=decrypting.stdout,
        timeout=120,
    )
    decrypting.stdout.close()

    assert decrypting.wait(timeout=120) == 0
    assert encrypting.returncode == 0
    assert decrypt((tmp_path / "new.enc").read_bytes(), [other_key]) == data


def test_cli_bad_key_file_is_a_one_line_error_without_the_key(cli, tmp_path):
    (tmp_path / "bad.key").write_text("correct-horse-battery-staple")

    result = cli("encrypt", "--key-file", str(tmp_path / "bad.key"), stdin=b"x")

    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "correct-horse" not in stderr
    assert "32" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_cli_without_any_key_says_how_to_give_one(cli):
    result = cli("encrypt", stdin=b"x")

    assert result.returncode != 0
    assert "--key-file" in result.stderr.decode()
    assert "BACKUP_ENCRYPTION_KEY" in result.stderr.decode()


def test_cli_missing_input_file_is_a_one_line_error(cli, key_file, tmp_path):
    result = cli("decrypt", "--key-file", str(key_file), str(tmp_path / "missing.enc"))

    assert result.returncode != 0
    assert "missing.enc" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
