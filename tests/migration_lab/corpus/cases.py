# ruff: noqa: E501
# Each operation stays on one line, as in the migration file it becomes.
"""The corpus: one change migration per case, applied to the seeded base, with its measured truth.

`expect` is what truth.py measured on PostgreSQL and `expect_sqlite` where SQLite differs; the test
module re-measures every case on every run, so a label here is a measurement, not an opinion.
"""

from dataclasses import dataclass, field
from typing import NamedTuple


class Truth(NamedTuple):
    #: A row or a non-NULL value of the snapshot is gone or changed, or migrate failed.
    data_lost: bool
    #: The table's storage was replaced: relfilenode on PostgreSQL, rootpage on SQLite.
    rewritten: bool
    #: The previous model's read or insert fails after the migration.
    old_code_breaks: bool
    #: Rewritten with rows, old code breaks, a blocking index or constraint, or migrate failed.
    unsafe_for_deploy: bool


@dataclass(frozen=True)
class Case:
    name: str
    operations: str
    expect: Truth
    expect_sqlite: Truth | None = None  # None: the same as on PostgreSQL
    functions: str = ""
    atomic: bool = True
    postgresql_only: bool = False
    model: str = "Entry"  # the model whose previous release is run after the migration
    renamed_tables: dict = field(default_factory=dict)  # old db_table -> new
    renamed_columns: dict = field(default_factory=dict)  # "table.old" -> "new"

    def truth_on(self, vendor: str) -> Truth:
        if vendor == "sqlite" and self.expect_sqlite is not None:
            return self.expect_sqlite
        return self.expect


def T(data_lost, rewritten, old_code_breaks, unsafe_for_deploy) -> Truth:
    return Truth(bool(data_lost), bool(rewritten), bool(old_code_breaks), bool(unsafe_for_deploy))


SHOUT = """
def shout(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    for entry in Entry.objects.filter(id__lte=300):
        entry.name = entry.name.upper()
        entry.save(update_fields=["name"])
"""
ADD_ONLY = """
def add_rows(apps, schema_editor):
    Entry = apps.get_model("migration_lab", "Entry")
    Entry.objects.bulk_create(
        [Entry(name=f"Imported {i}", email=f"import{i}@example.com", ref=f"IMP-{i}") for i in range(50)]
    )
"""
IMPORT_UUID = "import uuid\nfrom django.db.models.functions import Random\n"

CASES = [
    # Removing things.
    Case("drop_column", 'migrations.RemoveField("entry", "nickname"),', T(1, 0, 1, 1)),
    Case("drop_column_all_null", 'migrations.RemoveField("entry", "legacy"),', T(0, 0, 1, 1)),
    Case("drop_table", 'migrations.DeleteModel("Entry"),', T(1, 0, 1, 1)),
    Case("drop_table_empty", 'migrations.DeleteModel("Archive"),', T(0, 0, 1, 1), model="Archive"),
    # Renames.
    Case(
        "rename_column",
        'migrations.RenameField("entry", "nickname", "alias"),',
        T(0, 0, 1, 1),
        renamed_columns={"lab_entry.nickname": "alias"},
    ),
    Case(
        "rename_table",
        'migrations.AlterModelTable("entry", "lab_item"),',
        T(0, 0, 1, 1),
        renamed_tables={"lab_entry": "lab_item"},
    ),
    Case("rename_model_fixed_db_table", 'migrations.RenameModel("Entry", "Item"),', T(0, 0, 0, 0)),
    Case(
        "remove_add_pair",
        'migrations.RemoveField("entry", "nickname"),\n'
        'migrations.AddField("entry", "alias", models.CharField(max_length=100, null=True)),',
        T(1, 0, 1, 1),
    ),
    # Adding columns.
    Case(
        "add_nullable",
        'migrations.AddField("entry", "flag", models.CharField(max_length=10, null=True)),',
        T(0, 0, 0, 0),
    ),
    Case(
        "add_not_null_default",
        'migrations.AddField("entry", "status", models.CharField(max_length=10, default="new")),',
        T(0, 0, 1, 1),
        expect_sqlite=T(0, 1, 1, 1),
    ),
    Case(
        "add_db_default",
        'migrations.AddField("entry", "status", models.CharField(max_length=10, db_default="new")),',
        T(0, 0, 0, 0),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "add_not_null_no_default_sql",
        'migrations.RunSQL("ALTER TABLE lab_entry ADD COLUMN must varchar(10) NOT NULL"),',
        T(1, 0, 0, 1),
    ),
    Case(
        "add_volatile_db_default",
        'migrations.AddField("entry", "noise", models.FloatField(db_default=Random())),',
        T(0, 1, 0, 1),
        functions=IMPORT_UUID,
    ),
    Case(
        "add_callable_default",
        'migrations.AddField("entry", "token", models.UUIDField(default=uuid.uuid4)),',
        T(0, 0, 1, 1),
        expect_sqlite=T(0, 1, 1, 1),
        functions=IMPORT_UUID,
    ),
    # Changing a column's type.
    Case(
        "int_to_bigint",
        'migrations.AlterField("entry", "score", models.BigIntegerField(null=True)),',
        T(0, 1, 0, 1),
    ),
    Case(
        "int_to_text",
        'migrations.AlterField("entry", "score", models.CharField(max_length=20, null=True)),',
        T(0, 1, 0, 1),
    ),
    Case(
        "text_to_int_bad_data",
        'migrations.AlterField("entry", "code", models.IntegerField(null=True)),',
        T(1, 0, 0, 1),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "text_to_int_clean",
        'migrations.AlterField("entry", "digits", models.IntegerField(null=True)),',
        T(0, 1, 0, 1),
    ),
    Case(
        "varchar_widen",
        'migrations.AlterField("entry", "name", models.CharField(max_length=200)),',
        T(0, 0, 0, 0),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "varchar_shrink_too_long",
        'migrations.AlterField("entry", "name", models.CharField(max_length=20)),',
        T(1, 0, 0, 1),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "varchar_to_text",
        'migrations.AlterField("entry", "nickname", models.TextField(null=True)),',
        T(0, 0, 0, 0),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    # NULL and NOT NULL.
    Case(
        "not_null_over_nulls",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100)),',
        T(1, 0, 0, 1),
    ),
    Case(
        "not_null_no_nulls",
        'migrations.AlterField("entry", "title", models.CharField(max_length=100)),',
        T(0, 0, 1, 1),
        expect_sqlite=T(0, 1, 1, 1),
    ),
    Case(
        "not_null_with_default",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, default="")),',
        T(0, 0, 1, 1),
        expect_sqlite=T(0, 1, 1, 1),
    ),
    Case(
        "drop_not_null",
        'migrations.AlterField("entry", "name", models.CharField(max_length=100, null=True)),',
        T(0, 0, 0, 0),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    # Indexes and constraints.
    Case(
        "add_index",
        'migrations.AddIndex("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
        T(0, 0, 0, 1),
    ),
    Case(
        "add_index_concurrently",
        'AddIndexConcurrently("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
        T(0, 0, 0, 0),
        atomic=False,
        postgresql_only=True,
        functions="from django.contrib.postgres.operations import AddIndexConcurrently\n",
    ),
    Case(
        "add_unique_clean",
        'migrations.AlterField("entry", "ref", models.CharField(max_length=20, unique=True)),',
        T(0, 0, 0, 1),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "add_unique_over_duplicates",
        'migrations.AddConstraint("entry", models.UniqueConstraint(fields=["email"], name="lab_entry_email_uniq")),',
        T(1, 0, 0, 1),
    ),
    Case(
        "add_check_clean",
        'migrations.AddConstraint("entry", models.CheckConstraint(condition=Q(score__lte=1000) | Q(score__isnull=True), name="lab_entry_score_max")),',
        T(0, 0, 0, 1),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "add_check_violated",
        'migrations.AddConstraint("entry", models.CheckConstraint(condition=Q(score__lte=500) | Q(score__isnull=True), name="lab_entry_score_max")),',
        T(1, 0, 0, 1),
        expect_sqlite=T(1, 0, 0, 1),
    ),
    Case(
        "add_check_not_valid_sql",
        'migrations.RunSQL("ALTER TABLE lab_entry ADD CONSTRAINT lab_entry_score_max CHECK (score <= 1000) NOT VALID"),',
        T(0, 0, 0, 0),
        postgresql_only=True,
    ),
    Case(
        "add_foreign_key",
        'migrations.AddField("entry", "team", models.ForeignKey("Team", null=True, on_delete=models.SET_NULL)),',
        T(0, 0, 0, 1),
    ),
    # Raw SQL and Python.
    Case(
        "runsql_delete",
        'migrations.RunSQL("DELETE FROM lab_entry WHERE score IS NULL"),',
        T(1, 0, 0, 0),
    ),
    Case(
        "runsql_update",
        "migrations.RunSQL(\"UPDATE lab_entry SET nickname = NULL WHERE nickname LIKE 'Ada%%'\"),",
        T(1, 0, 0, 0),
    ),
    Case("runsql_drop_table", 'migrations.RunSQL("DROP TABLE lab_entry"),', T(1, 0, 1, 1)),
    Case(
        "runsql_harmless", 'migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),', T(0, 0, 0, 0)
    ),
    Case(
        "runpython_add_only",
        "migrations.RunPython(add_rows, migrations.RunPython.noop),",
        T(0, 0, 0, 0),
        functions=ADD_ONLY,
    ),
    Case(
        "runpython_transform",
        "migrations.RunPython(shout, migrations.RunPython.noop),",
        T(1, 0, 0, 0),
        functions=SHOUT,
    ),
    Case(
        "runsql_truncate",
        'migrations.RunSQL("TRUNCATE lab_entry"),',
        T(1, 1, 0, 1),
        postgresql_only=True,
    ),
    Case(
        "rename_field_keeps_column",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, null=True, db_column="nickname")),\n'
        'migrations.RenameField("entry", "nickname", "alias"),',
        T(0, 0, 0, 0),
    ),
    Case(
        "alter_field_db_index",
        'migrations.AlterField("entry", "name", models.CharField(max_length=100, db_index=True)),',
        T(0, 0, 0, 1),
        expect_sqlite=T(0, 1, 0, 1),
    ),
    Case(
        "add_stored_generated_field",
        'migrations.AddField("entry", "name_lower", models.GeneratedField(expression=Lower("name"), output_field=models.CharField(max_length=100), db_persist=True)),',
        T(0, 1, 0, 1),
        functions="from django.db.models.functions import Lower\n",
    ),
    # Separating the state from the database.
    Case(
        "state_only_remove_field",
        'migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("entry", "legacy")], database_operations=[]),',
        T(0, 0, 0, 0),
    ),
    Case(
        "state_and_drop_column",
        'migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("entry", "nickname")], database_operations=[migrations.RunSQL("ALTER TABLE lab_entry DROP COLUMN nickname")]),',
        T(1, 0, 1, 1),
    ),
]
