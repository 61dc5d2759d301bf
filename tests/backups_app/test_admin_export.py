"""The record of CSV exports in Django admin, and the export action on the signup list."""

import csv
import io
import logging
import re
from pathlib import Path

import pytest
from django.contrib.admin.models import ADDITION, LogEntry

from backups_app.models import Export
from tests.backups_app.conftest import staff_with
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUPS = "/admin/waitlist/signup/"
EXPORTS = "/admin/backups_app/export/"


def export_selected(client, *signups):
    return client.post(
        SIGNUPS,
        {"action": "export_selected_to_csv", "_selected_action": [s.pk for s in signups]},
    )


def downloaded_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_exports_are_a_read_only_list_with_view_links(admin_client):
    changelist = admin_client.get(EXPORTS).content.decode()
    index = admin_client.get("/admin/").content.decode()

    assert "Select export to view" in changelist
    export_row = re.search(r'<tr class="model-export">.*?</tr>', index, re.DOTALL).group(0)
    assert "View" in export_row
    assert "Change" not in export_row


def test_export_selected_records_an_export_and_downloads_its_file(
    admin_client, admin_user, backup_dir, settings, caplog
):
    chosen = SignupFactory(email="chosen@example.com")
    SignupFactory(email="other@example.com")

    with caplog.at_level(logging.INFO):
        response = export_selected(admin_client, chosen)

    export = Export.objects.get()
    stored = Path(export.path)
    downloaded = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{export.name}"'
    assert stored.parent == settings.EXPORT_DIR
    assert downloaded == stored.read_bytes()
    assert export.row_count == 1
    assert export.size_bytes == len(downloaded)
    assert export.triggered_by == admin_user.get_username()
    assert [row[2] for row in csv.reader(io.StringIO(downloaded.decode()))][1:] == [
        "chosen@example.com"
    ]
    # Who did it: in admin's history of the export, and in the log.
    entry = LogEntry.objects.get(object_id=str(export.pk))
    assert (entry.user, entry.action_flag) == (admin_user, ADDITION)
    assert "Exported 1 selected signup(s)" in entry.get_change_message()
    assert f"name={export.name} rows=1" in caplog.text
    assert f"by={admin_user.get_username()}" in caplog.text


def test_exports_page_lists_the_admin_export(admin_client, backup_dir):
    export_selected(admin_client, SignupFactory())
    export = Export.objects.get()

    html = admin_client.get(EXPORTS).content.decode()

    assert "1 export" in html
    assert export.name in html
    # The size in the unit a person reads, not a column of raw bytes.
    assert f'<td class="field-size">{export.size_bytes} B</td>' in html


def test_exported_cells_are_neutralised(admin_client, backup_dir):
    dangerous = SignupFactory(full_name="=HYPERLINK()", city="@SUM(A1)", phone="+44 1")

    rows = downloaded_rows(export_selected(admin_client, dangerous))

    assert rows[0][:5] == ["id", "full_name", "email", "phone", "city"]
    assert rows[1][1] == "'=HYPERLINK()"
    assert rows[1][3] == "'+44 1"
    assert rows[1][4] == "'@SUM(A1)"


def test_staff_without_the_export_permission_neither_sees_nor_runs_the_action(
    client, django_user_model, backup_dir, settings
):
    client.force_login(staff_with(django_user_model, "view_signup"))
    signup = SignupFactory()

    page = client.get(SIGNUPS)
    response = export_selected(client, signup)

    assert page.status_code == 200
    assert "export_selected_to_csv" not in page.content.decode()
    assert response.get("Content-Type", "").startswith("text/html")
    assert not Export.objects.exists()
    assert not settings.EXPORT_DIR.exists() or not any(settings.EXPORT_DIR.iterdir())


def test_staff_with_the_export_permission_sees_and_runs_the_action(
    client, django_user_model, backup_dir
):
    client.force_login(staff_with(django_user_model, "view_signup", "export_signups"))
    signup = SignupFactory()

    page = client.get(SIGNUPS)
    response = export_selected(client, signup)

    assert '<option value="export_selected_to_csv">Export selected to CSV</option>' in (
        page.content.decode()
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert Export.objects.get().triggered_by == "helper"
