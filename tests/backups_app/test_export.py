"""CSV exports (§5): the command, the file, formula safety, rotation, the admin action."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from backups_app.models import Export
from backups_app.services import waitlist_export_csv
from backups_app.services.export import neutralise
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = [
    "id",
    "full_name",
    "email",
    "phone",
    "city",
    "country",
    "message",
    "consent",
    "created_at",
]


def read_csv(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_export_writes_header_and_one_row_per_signup(backup_dir):
    ada = SignupFactory(
        full_name="Zoë Ångström 東京",
        email="zoe@example.com",
        phone="+44 1",
        city="Malmö",
        country="Sverige",
        message='He said "hi",\nthen left',
        consent=True,
    )
    SignupFactory(email="second@example.com")

    export = waitlist_export_csv(triggered_by="test")

    rows = read_csv(export.path)
    assert rows[0] == HEADER
    assert len(rows) == 3
    assert rows[1][:8] == [
        str(ada.pk),
        "Zoë Ångström 東京",
        "zoe@example.com",
        "'+44 1",
        "Malmö",
        "Sverige",
        'He said "hi",\nthen left',
        "true",
    ]
    assert rows[1][8].endswith("Z") and rows[1][8].startswith(str(ada.created_at.year))
    assert export.row_count == 2
    assert export.name.startswith("waitlist-export-") and export.name.endswith("Z.csv")
    assert Export.objects.get().sha256


@pytest.mark.parametrize(
    "dangerous", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
)
def test_formula_cells_are_neutralised(backup_dir, dangerous):
    SignupFactory(full_name=dangerous, city=dangerous, email="f@example.com")

    rows = read_csv(waitlist_export_csv().path)

    assert rows[1][1] == "'" + dangerous
    assert rows[1][4] == "'" + dangerous


def test_ordinary_text_is_not_changed():
    assert neutralise("Ada") == "Ada"
    assert neutralise("a=b") == "a=b"
    assert neutralise("") == ""


def test_no_signups_gives_the_header_only(backup_dir, transactional_db):
    export = waitlist_export_csv()

    assert read_csv(export.path) == [HEADER]
    assert export.row_count == 0


def test_export_csv_command_with_output_and_json(backup_dir, tmp_path):
    SignupFactory()
    out = io.StringIO()

    call_command("export_csv", "--output", str(tmp_path / "mine.csv"), "--json", stdout=out)

    document = json.loads(out.getvalue())
    assert document["ok"] is True
    assert document["row_count"] == 1
    assert (tmp_path / "mine.csv").exists()


def test_old_exports_rotate(backup_dir, settings):
    settings.EXPORT_RETENTION = 2
    SignupFactory()
    exports = []
    for _ in range(4):
        exports.append(waitlist_export_csv())

    names = sorted(p.name for p in settings.EXPORT_DIR.iterdir())
    assert names == sorted(e.name for e in exports[-2:])
    assert Export.objects.count() == 2


def test_admin_exports_the_selected_signups(admin_client, transactional_db):
    chosen = SignupFactory(full_name="=HYPERLINK()", email="chosen@example.com")
    SignupFactory(email="other@example.com")

    response = admin_client.post(
        "/admin/waitlist/signup/",
        {"action": "export_selected_to_csv", "_selected_action": [chosen.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="waitlist-export-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == HEADER
    assert [r[2] for r in rows[1:]] == ["chosen@example.com"]
    assert rows[1][1] == "'=HYPERLINK()"


def test_staff_without_the_export_permission_cannot_export(
    client, django_user_model, transactional_db
):
    staff = django_user_model.objects.create_user(
        "helper", password="x-long-pass-123", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_signup"))
    client.force_login(staff)
    signup = SignupFactory()

    page = client.get("/admin/waitlist/signup/")
    response = client.post(
        "/admin/waitlist/signup/",
        {"action": "export_selected_to_csv", "_selected_action": [signup.pk]},
    )

    assert "export_selected_to_csv" not in page.content.decode()
    assert response.get("Content-Type", "").startswith("text/html")


def test_staff_with_the_export_permission_can_export(client, django_user_model, transactional_db):
    staff = django_user_model.objects.create_user(
        "exporter", password="x-long-pass-123", is_staff=True
    )
    staff.user_permissions.add(
        Permission.objects.get(codename="view_signup"),
        Permission.objects.get(codename="export_signups"),
    )
    client.force_login(staff)
    signup = SignupFactory()

    response = client.post(
        "/admin/waitlist/signup/",
        {"action": "export_selected_to_csv", "_selected_action": [signup.pk]},
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
