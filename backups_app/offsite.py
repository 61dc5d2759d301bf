"""Thin access to the off-site store (§8.1): the `backups_offsite` entry of Django's STORAGES.

Uploads and downloads are streamed (flat memory); the manifest is the commit marker, so it goes
up last and comes down first when deleting. Errors are the storage's own (boto/OSError): the
services decide what a failure means.
"""

import copy
import json
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, storages
from storages.utils import clean_name

from backups_app import conf, files

# Errors an unreachable or refusing store raises: boto's, the network's, the storage's.
try:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    STORE_ERRORS: tuple[type[Exception], ...] = (
        OSError,
        BotoCoreError,
        ClientError,
        Boto3Error,
    )
except ImportError:  # pragma: no cover - another backend without boto
    STORE_ERRORS = (OSError,)


def storage() -> Storage:
    return storages[conf.OFFSITE_STORAGE_ALIAS]


def upload(path: Path, *, name: str | None = None) -> None:
    """Copy a local file up, streamed (multipart for large files). Names are unique per backup,
    so a retry replaces its own object (`file_overwrite=True`) and never gets a suffix."""
    name = name or path.name
    store = storage()
    if _s3_bucket(store) is not None:
        key = store._normalize_name(clean_name(name))
        # By file name, not through Storage.save(): handed an open file, boto3 reads each
        # multipart part into memory first and holds up to ten of them (80 MiB at 8 MiB parts);
        # handed a name, it reads every part from the disk as it sends it.
        store.bucket.Object(key).upload_file(
            str(path), ExtraArgs=store._get_write_parameters(key), Config=store.transfer_config
        )
        return
    with path.open("rb") as handle:
        saved = store.save(name, File(handle, name=name))
    if saved != name:
        raise OSError(f"the off-site store saved {name} as {saved}: set file_overwrite=True")


def upload_manifest(path: Path) -> None:
    """Put a manifest, the commit marker, only where none is yet (`IfNoneMatch="*"` on S3).

    When one is already there (a retry whose first put did land), it must describe the same
    dump (same name and sha256): then the upload is done; otherwise FileExistsError, never a
    silent overwrite of another backup's marker.
    """
    store = storage()
    client = getattr(getattr(getattr(store, "connection", None), "meta", None), "client", None)
    if client is None or not hasattr(store, "_normalize_name"):
        upload(path)  # another backend: a plain save
        return
    data = path.read_bytes()  # a manifest is small
    key = store._normalize_name(clean_name(path.name))
    try:
        client.put_object(Bucket=store.bucket_name, Key=key, Body=data, IfNoneMatch="*")
        return
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 412 and err.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
    there = read_manifest(path.name)
    ours = json.loads(data)
    if (there.get("name"), there.get("sha256")) != (ours.get("name"), ours.get("sha256")):
        raise FileExistsError(
            f"another manifest is already off-site as {path.name} (sha256 "
            f"{there.get('sha256')!r}, ours {ours.get('sha256')!r}); refusing to replace it"
        )


def manifest_names() -> list[str]:
    """The manifests off-site, oldest first (the storage pages through the listing)."""
    _, names = storage().listdir("")
    return sorted(n for n in names if files.MANIFEST_PATTERN.match(n))


def dump_names() -> list[str]:
    _, names = storage().listdir("")
    return sorted(n for n in names if files.NAME_PATTERN.match(n))


def read_manifest(name: str) -> dict[str, Any]:
    """A manifest off-site (small, read whole); ValueError when it is not JSON."""
    with storage().open(name, "rb") as handle:
        manifest = json.loads(handle.read())
    if not isinstance(manifest, dict) or "name" not in manifest:
        raise ValueError(f"{name} is not a backup manifest")
    return manifest


def download(name: str, handle: IO[bytes]) -> None:
    """Stream an object into an open local file, never holding it in memory (S3Storage's
    `open()` would read it whole into RAM)."""
    store = storage()
    bucket = _s3_bucket(store)
    if bucket is not None:
        key = store._normalize_name(clean_name(name))
        bucket.download_fileobj(key, handle, Config=_download_config(store))
        return
    with store.open(name, "rb") as source:
        for chunk in source.chunks(files.CHUNK_SIZE):
            handle.write(chunk)


def _s3_bucket(store: Storage):
    """The boto3 Bucket behind django-storages' S3 backend; None for any other storage."""
    bucket = getattr(store, "bucket", None)
    if bucket is None or not hasattr(store, "_normalize_name"):
        return None
    return bucket


def _download_config(store: Storage):
    """The storage's transfer settings (two parts at a time, not boto3's ten) with at most four
    256 KiB chunks waiting to be written: boto3 queues up to a hundred (25 MiB) by default,
    which a local disk never needs and which the process then keeps."""
    from boto3.s3.transfer import TransferConfig

    config = copy.copy(store.transfer_config or TransferConfig())
    config.max_io_queue = 4
    return config


def exists(name: str) -> bool:
    return storage().exists(name)


def delete(name: str) -> None:
    storage().delete(name)


def upload_bytes(data: bytes, *, name: str) -> None:
    """Put small bytes (a journal segment, at most a few MiB) under `name`, replacing what is
    there: what the caller read through its own checks, never a path the upload would follow."""
    store = storage()
    bucket = _s3_bucket(store)
    if bucket is not None:
        key = store._normalize_name(clean_name(name))
        bucket.Object(key).put(Body=data, **store._get_write_parameters(key))
        return
    from django.core.files.base import ContentFile

    if store.exists(name):
        store.delete(name)
    saved = store.save(name, ContentFile(data))
    if saved != name:
        raise OSError(f"the off-site store saved {name} as {saved}")
