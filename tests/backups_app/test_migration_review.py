"""Reviewing a risky migration (§7): `migration_review_record` and `manage.py review_migration`.

A reviewed migration runs behind a verified backup instead of being refused; the review records
why, and is void as soon as the migration or a helper it imports changes.
"""

import io

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import migrate, migration_risk_json

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reviewed_migration_runs_with_a_backup_and_an_edit_voids_the_review(lab):
    lab.insert_rows()
    path = lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')
    _, ok = migration_risk_json("migration_lab")
    assert not ok

    call_command(
        "review_migration",
        "migration_lab",
        "0002",
        reason="nickname was copied to the CRM in release 41",
        stdout=io.StringIO(),
    )
    lab.forget()

    report, ok = migration_risk_json("migration_lab")
    assert ok
    assert report["action"] == "backup_then_apply"
    assert report["migrations"][0]["review"] == "reviewed"
    assert report["operations"][0]["reviewed"] is True

    path.write_text(path.read_text().replace('"nickname"', '"code"'))  # edited after review
    lab.forget()

    report, ok = migration_risk_json("migration_lab")
    assert not ok
    assert report["migrations"][0]["review"] == "void"
    assert report["action"] == "refuse"
    with pytest.raises(CommandError, match="Refused"):
        migrate("migration_lab")
    assert "code" in lab.columns()

    call_command(
        "review_migration", "migration_lab", "0002", reason="code is unused", stdout=io.StringIO()
    )
    lab.forget()
    migrate("migration_lab")

    assert "code" not in lab.columns()
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "applied"
    assert change.reason == "migration_lab.0002_drop: code is unused"
    assert Backup.objects.get(name=change.backup_name).verification_ok


def test_review_needs_a_reason_and_an_existing_migration(lab):
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')
    with pytest.raises(CommandError, match="reason"):
        call_command("review_migration", "migration_lab", "0002", reason=" ")
    with pytest.raises(CommandError, match="Cannot find a migration"):
        call_command("review_migration", "migration_lab", "0009", reason="fine")


def test_a_reviewed_data_migration_loses_its_review_when_its_helper_changes(lab):
    lab.insert_rows()
    helper = lab.folder / "_helpers.py"
    helper.write_text(
        "def tidy(apps, schema_editor):\n"
        "    apps.get_model('migration_lab', 'Entry').objects.filter(code=None).delete()\n"
    )
    lab.migration(
        "0002_tidy",
        "migrations.RunPython(tidy),",
        functions=f"from {lab.package}._helpers import tidy\n",
    )
    call_command(
        "review_migration",
        "migration_lab",
        "0002",
        reason="removes test rows",
        stdout=io.StringIO(),
    )
    lab.forget()
    assert migration_risk_json("migration_lab")[1]

    helper.write_text(helper.read_text().replace("code=None", "code__isnull=False"))
    lab.forget()

    report, ok = migration_risk_json("migration_lab")
    assert not ok
    assert report["migrations"][0]["review"] == "void"


def test_installed_packages_migrations_are_not_reviewed_here(backup_dir):
    with pytest.raises(CommandError, match="installed package"):
        call_command("review_migration", "auth", "0011", reason="fine")
    with pytest.raises(CommandError, match="No installed app with label 'waitlst'"):
        call_command("review_migration", "waitlst", "0002", reason="fine")
