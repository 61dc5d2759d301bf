"""GET /health/ (§6.4): status, every check, and internals only for staff or the token."""

import datetime

import pytest
from django.utils import timezone

from backups_app import files
from backups_app.models import Backup, PendingBackupRequest
from backups_app.services import backup_create, backup_requests_flush, backup_verify
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture
def fresh_backup(signups, backup_dir):
    backup_requests_flush()  # as the web process's background thread does within 0.5 s
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=backup, restore_test=True)
    return backup


def test_healthy_when_the_newest_backup_is_fresh(client, fresh_backup):
    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {
        "database",
        "newest_backup",
        "rpo",
        "restore_test",
        "disk",
        "journal",
    }
    assert all(check == {"ok": True} for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_unhealthy_without_any_backup(client, backup_dir, transactional_db):
    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["newest_backup"] == {"ok": False}


def test_unhealthy_when_the_newest_backup_is_too_old(admin_client, fresh_backup, settings):
    settings.BACKUP_SCHEDULE_SECONDS = 3600
    Backup.objects.update(started_at=timezone.now() - datetime.timedelta(hours=2))

    response = admin_client.get("/health/")

    assert response.status_code == 503
    check = response.json()["checks"]["newest_backup"]
    assert check["ok"] is False
    assert check["age_seconds"] > 5400
    assert check["max_age_seconds"] == 5400


def test_unhealthy_when_a_signup_waited_past_the_rpo(admin_client, fresh_backup, settings):
    settings.BACKUP_RPO_SECONDS = 300
    Backup.objects.update(started_at=timezone.now() - datetime.timedelta(seconds=500))
    waited = timezone.now() - datetime.timedelta(seconds=400)
    signup = SignupFactory(created_at=waited)
    backup_requests_flush()
    PendingBackupRequest.objects.filter(signup_id=signup.pk).update(requested_at=waited)

    response = admin_client.get("/health/")

    assert response.status_code == 503
    rpo = response.json()["checks"]["rpo"]
    assert rpo["ok"] is False
    assert rpo["pending_requests"] == 1
    assert 399 <= rpo["oldest_waiting_seconds"] < 500


def test_a_recent_signup_within_the_rpo_is_healthy(admin_client, fresh_backup):
    SignupFactory()
    backup_requests_flush()

    response = admin_client.get("/health/")

    assert response.status_code == 200
    assert response.json()["checks"]["rpo"]["pending_requests"] == 1


def test_failed_restore_test_is_unhealthy(admin_client, fresh_backup, backup_dir):
    (backup_dir / fresh_backup.name).write_text("damaged")
    backup_verify(backup=fresh_backup, restore_test=True)

    response = admin_client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["restore_test"]["ok"] is False


def test_staff_see_figures(admin_client, fresh_backup):
    checks = admin_client.get("/health/").json()["checks"]

    assert checks["newest_backup"]["name"] == fresh_backup.name
    assert checks["restore_test"]["restore_seconds"] > 0
    assert checks["disk"]["free_bytes"] > 0
    assert "detail" in checks["database"]


def test_token_sees_figures(client, fresh_backup, settings):
    settings.BACKUP_API_TOKEN = TOKEN

    response = client.get("/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.json()["checks"]["newest_backup"]["name"] == fresh_backup.name


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"bearer {TOKEN}x", ""]
)
def test_wrong_or_missing_token_sees_no_internals(client, fresh_backup, settings, header):
    settings.BACKUP_API_TOKEN = TOKEN

    body = client.get("/health/", HTTP_AUTHORIZATION=header).json()

    assert fresh_backup.name not in str(body)
    assert all(set(check) == {"ok"} for check in body["checks"].values())


def test_token_auth_is_off_when_no_token_is_set(client, fresh_backup, settings):
    settings.BACKUP_API_TOKEN = None

    body = client.get("/health/", HTTP_AUTHORIZATION="Bearer ").json()

    assert all(set(check) == {"ok"} for check in body["checks"].values())


def test_non_staff_user_sees_no_internals(client, fresh_backup, django_user_model):
    client.force_login(django_user_model.objects.create_user("fan", password="x-long-pass-123"))

    body = client.get("/health/").json()

    assert all(set(check) == {"ok"} for check in body["checks"].values())


def test_post_is_not_allowed(client, transactional_db):
    assert client.post("/health/").status_code == 405


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("delete the dump", "its dump file is missing"),
        ("truncate the dump", "the catalogue recorded"),
        ("delete the manifest", "its manifest is missing"),
    ],
)
def test_unhealthy_when_the_newest_backups_files_are_not_as_recorded(
    admin_client, fresh_backup, backup_dir, damage, problem
):
    dump = backup_dir / fresh_backup.name
    if damage == "delete the dump":
        dump.unlink()
    elif damage == "truncate the dump":
        dump.write_bytes(dump.read_bytes()[:100])
    else:
        (backup_dir / files.manifest_name_for(fresh_backup.name)).unlink()

    response = admin_client.get("/health/")

    assert response.status_code == 503
    check = response.json()["checks"]["newest_backup"]
    assert check["ok"] is False
    assert check["detail"].startswith(fresh_backup.name)
    assert problem in check["detail"]
