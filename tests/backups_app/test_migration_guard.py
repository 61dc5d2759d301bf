"""The guarded `migrate` (§7): one test per row of the classification table, each with and
without data, on real migration files applied to the real database."""

from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import migration_risk_json
from tests.factories import SignupFactory
from tests.migration_lab.lab import ROWS

pytestmark = pytest.mark.django_db(transaction=True)

ADD_ROWS = """
def add_rows(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    Entry.objects.bulk_create([Entry(name="Added by a data migration")])
"""
TRANSFORM_ROWS = """
def shout_names(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    for entry in Entry.objects.all():
        entry.name = entry.name.upper()
        entry.save()
"""

CLEANING_ADD_FIELD = """
class AddFieldWithCleanup(migrations.AddField):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute("DELETE FROM lab_entry")
"""
MAP_HELPER = """
def _wipe(entry):
    entry.delete()


def wipe_all(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    list(map(_wipe, Entry.objects.all()))
"""
UPSERT_ROWS = """
def upsert(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    Entry.objects.bulk_create(
        [Entry(id=1, name="replaced")],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["name"],
    )
"""
WIPE_OPERATION = """
class WipeEntries(migrations.operations.base.Operation):
    reversible = False

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        schema_editor.execute("DELETE FROM lab_entry")

    def describe(self):
        return "Wipe the entries"
"""


@dataclass(frozen=True)
class Case:
    operations: str
    level: str  # the level with the standard rows in the table
    functions: str = ""
    applies_on_sqlite: bool = True  # SQLite has no TRUNCATE and no ALTER COLUMN … TYPE
    applies_on_postgresql: bool = True
    #: Vendors whose database itself rejects the migration on the standard rows (a unique
    #: constraint they break, values too long for PostgreSQL's varchar).
    database_refuses: tuple = ()
    #: Whether the guard can tell which table it touches (RunPython and custom code: no, so
    #: data anywhere in the database counts).
    table_bound: bool = True


CASES = {
    # none / low
    "create_model": Case(
        'migrations.CreateModel("Other", [("id", models.AutoField(primary_key=True))], '
        'options={"db_table": "lab_other"}),',
        "none",
    ),
    "add_field_nullable": Case(
        'migrations.AddField("entry", "extra", models.CharField(max_length=10, null=True)),',
        "low",
    ),
    "add_field_default": Case(
        'migrations.AddField("entry", "active", models.BooleanField(default=True)),', "low"
    ),
    "add_index": Case(
        'migrations.AddIndex("entry", models.Index(fields=["name"], name="lab_entry_name_ix")),',
        "low",
    ),
    "check_constraint_nulls_pass": Case(
        'migrations.AddConstraint("entry", models.CheckConstraint('
        'condition=Q(score__lte=100), name="lab_entry_score_max")),',
        "low",
    ),
    "proxy_model_deleted": Case(
        'migrations.CreateModel("EntryProxy", [], options={"proxy": True}, '
        'bases=("migration_lab.entry",)),\n'
        'migrations.DeleteModel("EntryProxy"),',
        "none",
    ),
    "add_constraint_satisfied": Case(
        'migrations.AddConstraint("entry", models.UniqueConstraint('
        'fields=["name", "code"], name="lab_entry_name_code_uq")),',
        "low",
    ),
    # Meta.db_table stays "lab_entry": Django runs no SQL, the table is untouched.
    "rename_model_keeping_its_table": Case('migrations.RenameModel("Entry", "Item"),', "none"),
    # medium: the backup is mandatory
    "rename_field": Case('migrations.RenameField("entry", "nickname", "alias"),', "medium"),
    "rename_model": Case(
        'migrations.AlterModelTable("entry", None),\nmigrations.RenameModel("Entry", "Item"),',
        "medium",
    ),
    "alter_model_table": Case('migrations.AlterModelTable("entry", "lab_entries"),', "medium"),
    "alter_field_type": Case(
        'migrations.AlterField("entry", "score", models.FloatField(null=True)),', "medium"
    ),
    "null_to_not_null": Case(
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, default="")),',
        "medium",
    ),
    "remove_constraint": Case(
        'migrations.RemoveConstraint("entry", "lab_entry_score_not_negative"),', "medium"
    ),
    "run_python_adds": Case(
        "migrations.RunPython(add_rows),", "medium", ADD_ROWS, table_bound=False
    ),
    "run_sql_adds": Case(
        "migrations.RunSQL(\"INSERT INTO lab_entry (name) VALUES ('from SQL')\"),", "medium"
    ),
    "run_sql_update_with_where": Case(
        "migrations.RunSQL(\"UPDATE lab_entry SET code = 'X' WHERE code IS NULL\"),", "medium"
    ),
    "run_sql_alter_type": Case(
        'migrations.RunSQL("ALTER TABLE lab_entry ALTER COLUMN score TYPE bigint"),',
        "medium",
        applies_on_sqlite=False,
    ),
    # high: refused without a review or --allow-dangerous --reason
    "remove_field": Case('migrations.RemoveField("entry", "nickname"),', "high"),
    "delete_model": Case('migrations.DeleteModel("Entry"),', "high"),
    "shrink_max_length": Case(
        'migrations.AlterField("entry", "name", models.CharField(max_length=5)),',
        "high",
        database_refuses=("postgresql",),
    ),
    "unique_violated": Case(
        'migrations.AddConstraint("entry", models.UniqueConstraint('
        'fields=["name"], name="lab_entry_name_uq")),',
        "high",
        database_refuses=("postgresql", "sqlite"),
    ),
    "run_sql_truncate": Case(
        'migrations.RunSQL("TRUNCATE lab_entry"),', "high", applies_on_sqlite=False
    ),
    "run_sql_drop": Case(
        'migrations.RunSQL("DROP TABLE lab_entry", state_operations=['
        'migrations.DeleteModel("Entry")]),',
        "high",
    ),
    "run_sql_delete_without_where": Case('migrations.RunSQL("DELETE FROM lab_entry"),', "high"),
    "run_sql_update_without_where": Case(
        "migrations.RunSQL(\"UPDATE lab_entry SET name = 'x'\"),", "high"
    ),
    "run_python_transforms": Case(
        "migrations.RunPython(shout_names),", "high", TRANSFORM_ROWS, table_bound=False
    ),
    "remove_add_pair": Case(
        'migrations.RemoveField("entry", "nickname"),\n'
        'migrations.AddField("entry", "alias", models.CharField(max_length=100, null=True)),',
        "high",
    ),
    "separate_database_and_state": Case(
        "migrations.SeparateDatabaseAndState(database_operations=["
        'migrations.RunSQL("DELETE FROM lab_entry")]),',
        "high",
    ),
    "rename_then_delete": Case(
        'migrations.AlterModelTable("entry", "lab_moved"),\nmigrations.DeleteModel("Entry"),',
        "high",
    ),
    "sql_rename_then_drop": Case(
        'migrations.RunSQL("ALTER TABLE lab_entry RENAME TO lab_tmp"),\n'
        'migrations.RunSQL("DROP TABLE lab_tmp", '
        'state_operations=[migrations.DeleteModel("Entry")]),',
        "high",
    ),
    "uppercase_drop": Case(
        'migrations.RunSQL("DROP TABLE LAB_ENTRY", state_operations=['
        'migrations.DeleteModel("Entry")]),',
        "high",
    ),
    "custom_operation": Case("WipeEntries(),", "high", WIPE_OPERATION, table_bound=False),
    "subclass_running_its_own_sql": Case(
        'AddFieldWithCleanup("entry", "extra", models.IntegerField(null=True)),',
        "high",
        CLEANING_ADD_FIELD,
        table_bound=False,
    ),
    "run_python_helper_passed_to_map": Case(
        "migrations.RunPython(wipe_all),", "high", MAP_HELPER, table_bound=False
    ),
    "run_python_upsert": Case(
        "migrations.RunPython(upsert),", "high", UPSERT_ROWS, table_bound=False
    ),
    "sql_upsert": Case(
        "migrations.RunSQL(\"INSERT INTO lab_entry (id, name) VALUES (1, 'x') "
        "ON CONFLICT (id) DO UPDATE SET name = 'x'\"),",
        "high",
    ),
    "sql_where_always_true": Case(
        'migrations.RunSQL("DELETE FROM lab_entry WHERE 1 = 1"),', "high"
    ),
    "sql_column_swap_then_remove": Case(
        'migrations.RunSQL("ALTER TABLE lab_entry RENAME COLUMN nickname TO tmp"),\n'
        'migrations.RunSQL("ALTER TABLE lab_entry RENAME COLUMN code TO nickname"),\n'
        'migrations.RunSQL("ALTER TABLE lab_entry RENAME COLUMN tmp TO code"),\n'
        'migrations.RemoveField("entry", "code"),',
        "high",
    ),
    "make_primary_key": Case(
        'migrations.AlterField("entry", "code", '
        "models.CharField(max_length=20, primary_key=True)),",
        "high",
        applies_on_sqlite=False,
        applies_on_postgresql=False,
    ),
    "delete_create_pair": Case(
        'migrations.DeleteModel("Entry"),\n'
        'migrations.CreateModel("Entry", [("id", models.AutoField(primary_key=True)), '
        '("name", models.CharField(max_length=200))], options={"db_table": "lab_entry"}),',
        "high",
    ),
}


def pre_migration_backups():
    return Backup.objects.filter(kind=Backup.Kind.PRE_MIGRATION, status="succeeded")


def applies_here(case: Case) -> bool:
    if connection.vendor == "postgresql":
        return case.applies_on_postgresql
    return case.applies_on_sqlite


@pytest.mark.parametrize("name", CASES)
def test_without_data_nothing_is_at_risk_and_no_backup_is_taken(lab, name):
    case = CASES[name]
    lab.migration("0002_change", case.operations, functions=case.functions)

    report, ok = migration_risk_json("migration_lab")

    assert ok
    assert report["risk"] in ("none", "low")
    assert report["action"] == "apply"
    if applies_here(case):
        call_command("migrate", "migration_lab", verbosity=0)
        assert "0002_change" in lab.applied()
        assert not pre_migration_backups().exists()
        change = SchemaChange.objects.latest("id")
        assert change.migrations == ["migration_lab.0002_change"]
        assert change.outcome == "applied"
        assert change.backup_name == ""


@pytest.mark.parametrize("name", CASES)
def test_an_empty_table_carries_no_risk_even_with_data_elsewhere(lab, name):
    case = CASES[name]
    SignupFactory.create_batch(2)
    lab.migration("0002_change", case.operations, functions=case.functions)

    report, ok = migration_risk_json("migration_lab")

    assert report["has_data"]
    if not case.table_bound:  # code that may touch any table: the signups count
        assert report["risk"] == case.level
        return
    assert ok
    assert report["risk"] in ("none", "low"), report["operations"]
    if applies_here(case):
        call_command("migrate", "migration_lab", verbosity=0)
        assert "0002_change" in lab.applied()
        assert not pre_migration_backups().exists()


@pytest.mark.parametrize("name", CASES)
def test_with_data_the_level_and_what_migrate_does_match_the_table(lab, name):
    case = CASES[name]
    lab.insert_rows()
    lab.migration("0002_change", case.operations, functions=case.functions)

    report, ok = migration_risk_json("migration_lab")

    assert report["risk"] == case.level, [(o["level"], o["reason"]) for o in report["operations"]]
    risky = [op for op in report["operations"] if op["level"] == case.level]
    assert all(op["reason"] for op in risky)
    if case.level in ("medium", "high"):
        assert all(op["safe_alternative"] for op in risky)
    expected_action = {"none": "apply", "low": "apply", "medium": "backup_then_apply"}
    assert report["action"] == expected_action.get(case.level, "refuse")
    assert ok == (case.level != "high")

    if case.level == "high":
        with pytest.raises(CommandError, match="Refused"):
            call_command("migrate", "migration_lab", verbosity=0)
        assert "0002_change" not in lab.applied()
        assert lab.count() == len(ROWS)
        assert not pre_migration_backups().exists()
        assert SchemaChange.objects.get(outcome="refused").risk == "high"
        if applies_here(case):
            overridden_run_is_backed_up_first(lab, case)
    elif applies_here(case):
        call_command("migrate", "migration_lab", verbosity=0)
        assert "0002_change" in lab.applied()
        backups = list(pre_migration_backups())
        assert len(backups) == (1 if case.level == "medium" else 0)
        change = SchemaChange.objects.latest("id")
        assert change.outcome == "applied"
        if backups:
            assert backups[0].pinned
            assert backups[0].verification_ok and backups[0].restore_tested
            assert backups[0].row_counts["lab_entry"] == len(ROWS)
            assert change.backup_name == backups[0].name
            assert change.risk == "medium"


def overridden_run_is_backed_up_first(lab, case: Case) -> None:
    """--allow-dangerous --reason: a verified backup holding every row, then the migration
    (which the database itself may still reject: then nothing is applied)."""
    override = {"allow_dangerous": True, "reason": "tested", "verbosity": 0}
    if connection.vendor in case.database_refuses:
        # The database's own error, in one line naming the migration.
        with pytest.raises(CommandError, match=r"^migration_lab\.0002_change failed: \w+Error: "):
            call_command("migrate", "migration_lab", **override)
        assert "0002_change" not in lab.applied()
        assert lab.count() == len(ROWS)
    else:
        call_command("migrate", "migration_lab", **override)
        assert "0002_change" in lab.applied()
    change = SchemaChange.objects.latest("id")
    expected = "failed" if connection.vendor in case.database_refuses else "applied"
    assert change.outcome == expected
    assert change.allowed_dangerous and change.reason == "tested"
    backup = pre_migration_backups().get()
    assert change.backup_name == backup.name
    assert backup.verification_ok and backup.restore_tested and backup.pinned
    assert backup.row_counts["lab_entry"] == len(ROWS)
