"""The backup API (§6.3): who may call it, what it answers, and that refusals change nothing."""

import json
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import MULTIPART_CONTENT

from backups_app.models import Backup, Export
from backups_app.services import backup_create
from waitlist.models import Erasure, Signup
from waitlist.services import signup_erase

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "api-token-for-tests-0123456789abcdef"
CREATE = "/api/backup/create"
EXPORT = "/api/backup/export-csv"
CATALOGUE = "/api/backup/"


@pytest.fixture
def token(settings):
    settings.BACKUP_API_TOKEN = TOKEN
    return TOKEN


def bearer(value: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {value}"}


def test_token_creates_a_backup_and_gets_its_manifest(client, signups, token):
    response = client.post(CREATE, **bearer(token))

    assert response.status_code == 201
    manifest = response.json()
    backup = Backup.objects.get()
    assert manifest["name"] == backup.name
    assert manifest["row_counts"]["waitlist_responses"] == 3
    assert backup.triggered_by == "api-token"


def test_token_exports_csv(client, signups, token):
    response = client.post(EXPORT, **bearer(token))

    assert response.status_code == 201
    assert response.json()["row_count"] == 3
    assert Export.objects.get().name == response.json()["name"]


def test_the_api_export_never_lists_an_erased_fan(client, signups, token):
    """Grace was erased, then put back with SQL behind the app's back."""
    signup_erase(email="grace@example.com", erased_by="test")
    Signup.objects.bulk_create(
        [
            Signup(
                full_name="Grace",
                email="grace@example.com",
                consent=True,
                created_at=Erasure.objects.get().erased_at,
            )
        ]
    )

    response = client.post(EXPORT, **bearer(token))

    assert response.status_code == 201
    assert response.json()["row_count"] == 2
    path = Export.objects.get(name=response.json()["name"]).path
    with open(path, encoding="utf-8") as handle:
        assert "grace@example.com" not in handle.read()


def test_token_lists_the_catalogue(client, signups, token):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = client.get(CATALOGUE, **bearer(token))

    assert response.status_code == 200
    assert [b["name"] for b in response.json()["backups"]] == [backup.name]


def test_staff_session_with_csrf_creates_a_backup(signups, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    browser.get("/admin/")
    csrf = browser.cookies["csrftoken"].value

    response = browser.post(CREATE, HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 201
    assert Backup.objects.get().triggered_by == admin_user.username


@pytest.mark.parametrize(
    ("path", "method"), [(CREATE, "post"), (EXPORT, "post"), (CATALOGUE, "get")]
)
def test_anonymous_gets_401_and_nothing_changes(client, signups, token, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert "error" in response.json()
    assert not Backup.objects.exists()
    assert not Export.objects.exists()


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer ", f"Basic {TOKEN}", "Token x"])
def test_wrong_token_gets_401_and_nothing_changes(client, signups, token, header):
    response = client.post(CREATE, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert not Backup.objects.exists()


def test_token_auth_is_off_when_no_token_is_set(client, signups, settings):
    settings.BACKUP_API_TOKEN = None

    response = client.post(CREATE, **bearer(""))

    assert response.status_code == 401
    assert not Backup.objects.exists()


def test_staff_session_without_csrf_gets_403(signups, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    response = browser.post(CREATE)

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert not Backup.objects.exists()


@pytest.mark.parametrize(
    ("is_staff", "codenames"),
    [(False, ["create_backup"]), (True, [])],
    ids=["non-staff-with-the-create-permission", "staff-without-the-create-permission"],
)
def test_a_session_that_may_not_create_gets_403(
    client, signups, django_user_model, is_staff, codenames
):
    user = django_user_model.objects.create_user(
        "someone", password="x-long-pass-123", is_staff=is_staff
    )
    user.user_permissions.add(*[Permission.objects.get(codename=name) for name in codenames])
    client.force_login(user)

    response = client.post(CREATE)

    assert response.status_code == 403
    assert not Backup.objects.exists()


def test_staff_with_only_the_create_permission_can_create(signups, django_user_model):
    staff = django_user_model.objects.create_user("backer", password="x-long-pass-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="create_backup"))
    browser = Client()
    browser.force_login(staff)

    assert browser.post(CREATE).status_code == 201
    assert browser.post(EXPORT).status_code == 403


@pytest.mark.parametrize(
    ("path", "method"), [(CREATE, "get"), (EXPORT, "put"), (CATALOGUE, "post")]
)
def test_wrong_method_gets_405(client, signups, token, path, method):
    response = getattr(client, method)(path, **bearer(token))

    assert response.status_code == 405
    assert "error" in response.json()
    assert not Backup.objects.exists()


def test_busy_answers_409(client, signups, token, settings):
    from backups_app.engines import get_engine

    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 0.2
    with get_engine().lock(timeout=1):
        response = client.post(CREATE, **bearer(token))

    assert response.status_code == 409
    assert "Another backup" in response.json()["error"]


def test_note_in_a_json_body_is_stored_and_bad_json_is_400(client, signups, token):
    ok = client.post(CREATE, json.dumps({"note": "nightly"}), "application/json", **bearer(token))
    bad = client.post(CREATE, "{nope", "application/json", **bearer(token))

    assert ok.status_code == 201
    assert Backup.objects.get().note == "nightly"
    assert bad.status_code == 400


@pytest.mark.parametrize("path", [CREATE, EXPORT])
@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "application/octet-stream", "application/json"]
)
def test_malformed_body_of_a_non_form_type_is_a_json_400_and_changes_nothing(
    client, signups, token, path, content_type
):
    response = client.generic("POST", path, b"{nope", content_type=content_type, **bearer(token))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "not JSON" in response.json()["error"]
    assert not Backup.objects.exists()
    assert not Export.objects.exists()


def test_malformed_json_without_a_content_type_header_is_refused_over_http(
    live_server, signups, token
):
    # The test client always sends some CONTENT_TYPE; a real client may send none at all.
    server = urlsplit(live_server.url)
    http = HTTPConnection(server.hostname, server.port, timeout=30)
    http.request("POST", CREATE, body=b"{nope", headers={"Authorization": f"Bearer {token}"})
    response = http.getresponse()

    assert response.status == 400
    assert "not JSON" in json.loads(response.read())["error"]
    assert not Backup.objects.exists()


def test_json_object_without_a_content_type_is_read_as_json(client, signups, token):
    body = json.dumps({"note": "from a script"})

    response = client.generic("POST", CREATE, body, content_type="", **bearer(token))

    assert response.status_code == 201
    assert Backup.objects.get().note == "from a script"


def test_empty_body_without_a_content_type_creates_a_backup(client, signups, token):
    response = client.generic("POST", CREATE, b"", content_type="", **bearer(token))

    assert response.status_code == 201
    assert Backup.objects.get().note == ""


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"note": "from a form"}, MULTIPART_CONTENT),
        ("note=from+a+form", "application/x-www-form-urlencoded"),
    ],
)
def test_note_in_a_form_post_is_stored(client, signups, token, body, content_type):
    response = client.post(CREATE, body, content_type, **bearer(token))

    assert response.status_code == 201
    assert Backup.objects.get().note == "from a form"


THREE_MB = 3 * 1024 * 1024


@pytest.mark.parametrize("path", [CREATE, EXPORT])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (lambda: json.dumps({"note": "x" * THREE_MB}), "application/json"),
        (lambda: b"x" * THREE_MB, ""),
        (lambda: "note=" + "x" * THREE_MB, "application/x-www-form-urlencoded"),
        (lambda: {"file": SimpleUploadedFile("big.bin", b"x" * THREE_MB)}, MULTIPART_CONTENT),
    ],
    ids=["json", "no-type", "form", "multipart-file"],
)
def test_body_over_the_upload_limit_is_a_json_413_and_changes_nothing(
    client, signups, token, path, body, content_type
):
    response = client.post(path, body(), content_type, **bearer(token))

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "too large" in response.json()["error"]
    assert not Backup.objects.exists()
    assert not Export.objects.exists()


def test_staff_form_post_over_the_upload_limit_is_a_json_413(signups, admin_user):
    # The CSRF check reads a form body before the view does.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    browser.get("/admin/")
    csrf = browser.cookies["csrftoken"].value

    response = browser.post(
        CREATE,
        "note=" + "x" * THREE_MB,
        "application/x-www-form-urlencoded",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert not Backup.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--nope\r\n", "multipart/form-data"),
        ("&".join(f"f{n}=1" for n in range(1001)), "application/x-www-form-urlencoded"),
    ],
    ids=["multipart-without-boundary", "too-many-fields"],
)
def test_unreadable_form_body_is_a_json_400_and_changes_nothing(
    client, signups, token, body, content_type
):
    response = client.generic("POST", CREATE, body, content_type=content_type, **bearer(token))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert not Backup.objects.exists()
