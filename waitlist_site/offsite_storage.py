"""The STORAGES entry for off-site copies (§8.1), built in one place for settings and tests."""

from typing import Any

MiB = 1024 * 1024


def offsite_storage(
    *,
    bucket: str,
    prefix: str = "waitlist-backups",
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    part_size: int = 8 * MiB,
    connect_timeout: float = 5,
    read_timeout: float = 60,
    max_attempts: int = 3,
) -> dict[str, Any]:
    """django-storages' S3 backend on `bucket`, under the folder `prefix`. `endpoint_url` is
    for a service other than AWS (MinIO, R2, GCS interop); None is AWS itself."""
    # Imported here: settings load this module whether off-site copies are on or not.
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config as BotoConfig

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": prefix,
            "endpoint_url": endpoint_url,
            "region_name": region,
            # Names are unique per backup: a retried upload replaces its own object.
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": True,
            # Multipart uploads of `part_size` parts, two at a time: memory stays flat and small.
            "transfer_config": TransferConfig(
                multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=2
            ),
            # Downloads spill to disk past 8 MiB instead of holding a whole dump in memory.
            "max_memory_size": 8 * MiB,
            "client_config": BotoConfig(
                # boto3's default CRC headers are refused by R2 and older MinIO.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        },
    }
