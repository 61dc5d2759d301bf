"""GET /health/ with off-site copies on (§6.4, §8.1): the off-site lag check over HTTP, against a
real S3-compatible server that is up, down, or without the bucket."""

import datetime
import re

import pytest
from django.utils import timezone

from backups_app.models import Backup
from backups_app.services import backup_create, backup_requests_flush
from backups_app.services.offsite import backup_offsite_upload_pending
from tests.backups_app.offsite.conftest import closed_port_url, use_endpoint

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = {"database", "newest_backup", "rpo", "restore_test", "disk", "offsite", "journal"}


@pytest.fixture
def backup(offsite):
    backup_requests_flush()  # the signups are in this backup: the RPO check passes
    return backup_create(kind=Backup.Kind.MANUAL)


def health_for_staff_and_anyone(admin_client, client, *, status: int) -> tuple[dict, dict]:
    """GET /health/ as staff and anonymously: both answer `status`, and staff see every check.
    The two bodies, staff's first."""
    staff = admin_client.get("/health/")
    anonymous = client.get("/health/")

    assert (staff.status_code, anonymous.status_code) == (status, status)
    body = staff.json()
    assert body["status"] == {200: "healthy", 503: "unhealthy"}[status]
    assert set(body["checks"]) == CHECKS
    return body, anonymous.json()


def finished_ago(backup: Backup, seconds: float) -> None:
    moment = timezone.now() - datetime.timedelta(seconds=seconds)
    Backup.objects.filter(pk=backup.pk).update(started_at=moment, finished_at=moment)


def test_healthy_once_the_backup_is_off_site(admin_client, client, backup):
    assert backup_offsite_upload_pending().uploaded == [backup.name]

    body, anonymous = health_for_staff_and_anyone(admin_client, client, status=200)

    assert body["checks"]["offsite"] == {
        "ok": True,
        "detail": "every backup is off-site",
        "lag_seconds": 0.0,
        "max_lag_seconds": 300,
        "waiting": 0,
        "last_error": "",
    }
    assert anonymous["checks"]["offsite"] == {"ok": True}


@pytest.mark.parametrize("store", ["server down", "bucket missing"])
def test_unhealthy_when_the_upload_is_not_done_past_the_max_lag(
    admin_client, client, backup, settings, s3_client, offsite, store
):
    if store == "server down":
        use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
        error, cause = "EndpointConnectionError", "Could not connect to the endpoint URL"
    else:
        s3_client.delete_bucket(Bucket=offsite)
        error, cause = "S3UploadFailedError", "(NoSuchBucket)"
    assert backup_offsite_upload_pending().failed == [backup.name]
    finished_ago(backup, 400)  # BACKUP_OFFSITE_MAX_LAG_SECONDS is 300

    body, anonymous = health_for_staff_and_anyone(admin_client, client, status=503)

    assert [name for name, check in body["checks"].items() if not check["ok"]] == ["offsite"]
    check = body["checks"]["offsite"]
    assert re.match(rf"off-site lag 40\d s \(limit 300 s\): {error}: ", check["detail"])
    assert cause in check["detail"]
    assert 400 <= check["lag_seconds"] < 410
    assert check["max_lag_seconds"] == 300
    assert check["waiting"] == 1
    assert check["last_error"].startswith(error) and cause in check["last_error"]
    assert anonymous == {
        "status": "unhealthy",
        "checks": {name: {"ok": name != "offsite"} for name in CHECKS},
    }


def test_healthy_while_a_failing_upload_is_within_the_max_lag(
    admin_client, backup, settings, offsite
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backup_offsite_upload_pending()
    finished_ago(backup, 200)

    response = admin_client.get("/health/")

    assert response.status_code == 200
    check = response.json()["checks"]["offsite"]
    assert check["ok"] is True
    assert re.fullmatch(r"off-site lag 20\d s", check["detail"])
    assert check["waiting"] == 1
    assert check["last_error"].startswith("EndpointConnectionError")


def test_unhealthy_until_the_store_is_back_and_healthy_after_the_upload(
    admin_client, backup, settings, offsite, s3_endpoint
):
    use_endpoint(settings, endpoint=closed_port_url(), bucket=offsite)
    backup_offsite_upload_pending()
    finished_ago(backup, 400)
    down = admin_client.get("/health/")
    use_endpoint(settings, endpoint=s3_endpoint, bucket=offsite)
    Backup.objects.filter(pk=backup.pk).update(offsite_next_try_at=None)  # its try is due

    assert backup_offsite_upload_pending().uploaded == [backup.name]
    up = admin_client.get("/health/")

    assert (down.status_code, up.status_code) == (503, 200)
    assert up.json()["checks"]["offsite"]["detail"] == "every backup is off-site"
