"""`manage.py migration_risk` for CI: which axis fails the build (--fail-on), and the formats
a pipeline reads (--format text, json, github)."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from backups_app.migration_safety.plan import migration_path

pytestmark = pytest.mark.django_db(transaction=True)

# Data risk low (the column is empty in every row), deploy unsafe (the running release reads it).
DROP_EMPTY_COLUMN = 'migrations.RemoveField("entry", "nickname"),'
# Data risk high (the values would be lost), deploy unsafe too.
DROP_FULL_COLUMN = 'migrations.RemoveField("entry", "code"),'


def migration_risk(*args: str, **options) -> tuple[str, bool]:
    """What the command printed, and whether it exited zero."""
    out = io.StringIO()
    try:
        call_command("migration_risk", "migration_lab", *args, stdout=out, **options)
    except CommandError as err:
        return out.getvalue() + f"\nCommandError: {err}", False
    return out.getvalue(), True


def rows_without_nicknames(lab) -> None:
    lab.insert_rows([("Ada", None, "A1", 1), ("Grace", None, "G1", 2)])


@pytest.mark.parametrize(
    ("fail_on", "ok"), [(None, True), ("data", True), ("deploy", False), ("both", False)]
)
def test_fail_on_chooses_the_axis_that_fails_the_build(lab, fail_on, ok):
    rows_without_nicknames(lab)
    lab.migration("0002_drop_nickname", DROP_EMPTY_COLUMN)
    args = ["--fail-on", fail_on] if fail_on else []

    printed, exited_zero = migration_risk(*args)

    assert exited_zero is ok
    if not ok:
        assert "1 operation(s) unsafe to deploy while the site runs" in printed


@pytest.mark.parametrize(("fail_on", "ok"), [("data", False), ("deploy", False), ("both", False)])
def test_high_data_risk_fails_data_and_both(lab, fail_on, ok):
    lab.insert_rows()
    lab.migration("0002_drop_code", DROP_FULL_COLUMN)

    printed, exited_zero = migration_risk("--fail-on", fail_on)

    assert exited_zero is ok
    if fail_on in ("data", "both"):
        assert "1 unreviewed high-risk operation(s) pending: migrate would refuse" in printed
    if fail_on in ("deploy", "both"):
        assert "unsafe to deploy" in printed


def test_a_safe_migration_passes_every_axis(lab):
    lab.insert_rows()
    lab.migration("0002_note", 'migrations.AddField("entry", "note", models.TextField(null=True)),')

    for fail_on in ("data", "deploy", "both"):
        assert migration_risk("--fail-on", fail_on)[1]


def test_format_json_and_the_json_alias_print_the_same_document(lab):
    rows_without_nicknames(lab)
    lab.migration("0002_drop_nickname", DROP_EMPTY_COLUMN)

    by_format, _ = migration_risk("--format", "json")
    by_alias, _ = migration_risk(json=True)
    failed, ok = migration_risk("--format", "json", "--fail-on", "deploy")

    document = json.loads(by_format)
    assert document == json.loads(by_alias)
    assert document["ok"] is True
    assert document["deploy"] == "unsafe"
    (operation,) = document["operations"]
    assert operation["deploy"] == "unsafe"
    assert operation["lock_seconds"] is None  # catalog only: no scan to estimate
    assert set(operation) >= {"deploy", "deploy_reason", "deploy_recipe", "lock_seconds"}
    assert not ok
    assert json.loads(failed.split("\nCommandError")[0])["ok"] is False


def test_the_text_report_shows_the_deploy_verdict_beside_the_data_level(lab):
    rows_without_nicknames(lab)
    lab.migration("0002_drop_nickname", DROP_EMPTY_COLUMN)

    printed, _ = migration_risk()

    assert "risk LOW, deploy UNSAFE" in printed
    assert "LOW    deploy UNSAFE  migration_lab.0002_drop_nickname (apply)" in printed
    assert "deploy UNSAFE: drops column lab_entry.nickname" in printed
    assert "safer deploy: Expand/contract in two releases" in printed


def test_github_format_annotates_each_risky_operation_at_its_migration_file(lab):
    lab.insert_rows()
    dropping = lab.migration("0002_drop_code", DROP_FULL_COLUMN)
    lab.migration(
        "0003_note",
        'migrations.AddField("entry", "note", models.TextField(null=True)),',
        depends="0002_drop_code",
    )

    printed, ok = migration_risk("--format", "github")

    annotations = [line for line in printed.splitlines() if line.startswith("::")]
    assert not ok
    (annotation,) = annotations  # the nullable column is safe on both axes: no annotation
    where, message = annotation.removeprefix("::error ").split("::", 1)
    assert where.startswith(f"file={dropping.resolve()},title=migration_lab.0002_drop_code%3A")
    assert message.startswith("data high: drops column code")
    assert "deploy unsafe: drops column lab_entry.code" in message


def test_github_format_warns_for_medium_data_risk_safe_to_deploy(lab):
    lab.insert_rows()
    lab.migration(
        "0002_longer_nickname",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=200, null=True)),',
    )

    printed, ok = migration_risk("--format", "github", "--fail-on", "both")

    (annotation,) = [line for line in printed.splitlines() if line.startswith("::")]
    assert ok
    assert annotation.startswith("::warning file=")
    assert "data medium: changes the column type" in annotation
    assert "deploy" not in annotation.split("::", 2)[2]  # widening a varchar is safe to deploy


@pytest.mark.postgresql_only
def test_github_format_warns_when_the_worst_is_caution(lab):
    lab.insert_rows()
    lab.migration(
        "0002_index",
        'migrations.AddIndex("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
    )
    lab.migration(
        "0003_drop_index",
        'migrations.RemoveIndex("entry", "lab_entry_name_idx"),',
        depends="0002_index",
    )
    call_command("migrate", "migration_lab", "0002", verbosity=0)

    printed, ok = migration_risk("--format", "github", "--fail-on", "deploy")

    (annotation,) = [line for line in printed.splitlines() if line.startswith("::")]
    assert ok  # caution does not fail the deploy axis
    assert annotation.startswith("::warning file=")
    assert "deploy caution: drops an index of lab_entry" in annotation


def test_migration_files_inside_the_project_are_named_relative_to_it():
    loader = MigrationLoader(connection)
    migration = loader.graph.nodes[("waitlist", "0001_initial")]

    assert migration_path(migration) == str(Path("waitlist", "migrations", "0001_initial.py"))
