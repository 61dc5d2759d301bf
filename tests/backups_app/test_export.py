"""CSV exports (§5): the command, the service, the file, formula safety, rotation.

The admin action is tested in test_admin_export.py."""

import csv
import io
import json

import pytest
from django.core.management import call_command

from backups_app.models import Export
from backups_app.services import waitlist_export_csv
from backups_app.services.export import neutralise
from tests.factories import SignupFactory
from waitlist.models import Signup

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


def test_export_of_a_selection_writes_and_records_only_those_signups(backup_dir, settings):
    chosen = SignupFactory(full_name="@chosen", email="chosen@example.com")
    SignupFactory(email="other@example.com")

    export = waitlist_export_csv(
        signups=Signup.objects.filter(pk=chosen.pk), triggered_by="someone"
    )

    rows = read_csv(export.path)
    assert rows[0] == HEADER
    assert [row[2] for row in rows[1:]] == ["chosen@example.com"]
    assert rows[1][1] == "'@chosen"
    assert export.row_count == 1
    assert export.triggered_by == "someone"
    assert export.path == str(settings.EXPORT_DIR / export.name)
