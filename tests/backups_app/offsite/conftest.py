"""A real S3-compatible HTTP server (moto's server mode) on loopback for the off-site tests, and
the backups and keys the tests look at.

Small multipart parts and listing pages are set before moto is imported, so that multipart
uploads and listing pagination are exercised with small dumps.
"""

import io
import itertools
import json
import os
import socket

PART_SIZE = 256 * 1024
os.environ.setdefault("S3_UPLOAD_PART_MIN_SIZE", str(PART_SIZE))
os.environ.setdefault("MOTO_S3_DEFAULT_MAX_KEYS", "3")

import boto3  # noqa: E402
import pytest  # noqa: E402
from django.core.management import call_command  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from backups_app import conf, journal  # noqa: E402
from backups_app.models import Backup  # noqa: E402
from backups_app.services.offsite import backup_offsite_upload_pending  # noqa: E402
from tests.backups_app.conftest import signup_rows, take  # noqa: E402
from waitlist_site.offsite_storage import offsite_storage  # noqa: E402

_bucket_numbers = itertools.count()

PREFIX = "waitlist-backups/"


def keys_in(s3_client, bucket: str, *, journal: bool = False) -> set[str]:
    """The backups' keys off-site (with `journal`, the signup journal's segments instead)."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = {item["Key"].removeprefix(PREFIX) for page in pages for item in page.get("Contents", [])}
    return {key for key in keys if key.startswith("journal/") == journal}


@pytest.fixture(scope="session")
def s3_endpoint():
    """The moto server's URL, with test credentials for the whole session."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client) -> str:
    """A bucket of this test's own."""
    name = f"offsite-test-{os.getpid()}-{next(_bucket_numbers)}"
    s3_client.create_bucket(Bucket=name)
    return name


def use_endpoint(settings, *, endpoint: str, bucket: str) -> None:
    """The STORAGES entry the settings build, pointed at `endpoint`: small parts, so that a
    test-sized dump goes up in several, and short timeouts without retries, so that a store
    that is down fails fast."""
    entry = offsite_storage(
        bucket=bucket,
        endpoint_url=endpoint,
        part_size=PART_SIZE,
        connect_timeout=1,
        read_timeout=10,
        max_attempts=1,
    )
    settings.STORAGES = {
        **{k: v for k, v in settings.STORAGES.items() if k != conf.OFFSITE_STORAGE_ALIAS},
        conf.OFFSITE_STORAGE_ALIAS: entry,
    }


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the off-site store is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def offsite(settings, backup_dir, signups, s3_endpoint, bucket):
    """Off-site copies on, to this test's bucket on the moto server."""
    use_endpoint(settings, endpoint=s3_endpoint, bucket=bucket)
    settings.BACKUP_OFFSITE_RETRY_BASE_SECONDS = 10
    settings.BACKUP_OFFSITE_RETRY_MAX_SECONDS = 60
    settings.BACKUP_OFFSITE_MAX_LAG_SECONDS = 300
    return bucket


# --- backups taken and looked at in the tests ---------------------------------------------


def taken_and_uploaded() -> tuple[Backup, list[tuple]]:
    """A backup of the signups, copied off-site: the backup, and the signup rows it holds."""
    backed_up = signup_rows()
    backup = take(1)[0]
    backup_offsite_upload_pending()
    return backup, backed_up


def listbackups_json(*args: str) -> dict:
    out = io.StringIO()
    call_command("listbackups", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def segment_names(backup_dir) -> list[str]:
    return journal.segment_names(backup_dir / "journal")
