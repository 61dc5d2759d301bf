"""The `deploy` verdict (§7.1) beside the data level: what a migration does to the site while it
runs, judged with the live rows of the lab table (tests/migration_lab/lab.py)."""

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app.migration_safety import deploy
from tests.backups_app.conftest import migration_risk_json
from tests.migration_lab.lab import lab_app

pytestmark = pytest.mark.django_db(transaction=True)

postgresql_only = pytest.mark.postgresql_only


def verdicts(lab, name: str, operations: str, *, rows: bool = True, **options) -> dict:
    """The report's operations of one migration written after 0001, keyed by position."""
    if rows:
        lab.insert_rows()
    lab.migration(name, operations, **options)
    report, _ = migration_risk_json("migration_lab")
    return report


def only(report: dict) -> dict:
    (operation,) = report["operations"]
    return operation


def estimate(rows: int) -> float:
    return deploy.lock_seconds(connection.vendor, rows)


def assert_lock_estimated(operation: dict, *, rows: int = 3) -> None:
    """The deploy reason says how long the lock holds for the live rows, worded as
    duration_text words it (never "about under 0.1 s"), and the report records that estimate."""
    assert f"about under 0.1 s for {rows} rows" not in operation["deploy_reason"]
    assert deploy.duration_text(estimate(rows), rows) in operation["deploy_reason"]
    assert operation["lock_seconds"] == estimate(rows)


# --- index builds, constraint checks and scans under a write lock --------------------------------

#: Operations that lock lab_entry against writes while they index or scan its rows, by what each
#: test proves: (operations, data level, what the deploy reason says, what the recipe says).
WRITE_LOCKS = {
    "an index built without CONCURRENTLY": (
        'migrations.AddIndex("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
        "low",  # the data verdict is unchanged
        "builds an index without CONCURRENTLY on lab_entry: blocks writes while it runs",
        "AddIndexConcurrently (django.contrib.postgres.operations) in a migration of its own "
        "with atomic = False",
    ),
    "a field added with db_index": (
        'migrations.AddField("entry", "tag", models.CharField(max_length=10, null=True, '
        "db_index=True)),",
        "low",
        "builds an index on lab_entry",
        "AddIndexConcurrently",
    ),
    "a field added unique": (
        'migrations.AddField("entry", "tag", models.CharField(max_length=10, null=True, '
        "unique=True)),",
        "low",
        "builds a unique index on lab_entry",
        "UNIQUE USING INDEX",
    ),
    "an altered field that gains db_index": (
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, null=True, '
        "db_index=True)),",
        "none",  # AlterField changes no stored value
        "builds an index on lab_entry",
        "AddIndexConcurrently",
    ),
    "an altered field that becomes unique": (
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, null=True, '
        "unique=True)),",
        "low",
        "builds a unique index on lab_entry",
        "UNIQUE USING INDEX",
    ),
    "a CHECK constraint without NOT VALID": (
        'migrations.AddConstraint("entry", models.CheckConstraint('
        'condition=Q(id__gt=0), name="lab_entry_id_positive")),',
        "low",  # the rows satisfy it (checked)
        "adds CHECK lab_entry_id_positive without NOT VALID",
        "AddConstraintNotValid (django.contrib.postgres.operations) in one migration, "
        "ValidateConstraint in the next",
    ),
    "a UNIQUE constraint": (
        'migrations.AddConstraint("entry", models.UniqueConstraint('
        'fields=["code"], name="lab_entry_code_unique")),',
        "low",
        "adds UNIQUE lab_entry_code_unique: builds its index",
        "CREATE UNIQUE INDEX CONCURRENTLY",
    ),
    "a FOREIGN KEY without NOT VALID": (
        'migrations.AddField("entry", "parent", models.ForeignKey("entry", null=True, '
        "on_delete=models.SET_NULL, db_index=False)),",
        "low",
        "adds a FOREIGN KEY without NOT VALID",
        "NOT VALID; a later migration runs ALTER TABLE … VALIDATE CONSTRAINT",
    ),
    "SET NOT NULL": (
        'migrations.AlterField("entry", "code", models.CharField(max_length=20, default="?")),',
        "medium",  # the data verdict is unchanged
        "SET NOT NULL on code scans every row under ACCESS EXCLUSIVE",
        "AddConstraintNotValid",
    ),
}


@postgresql_only
@pytest.mark.parametrize(
    ("operations", "level", "said", "recipe"), WRITE_LOCKS.values(), ids=WRITE_LOCKS.keys()
)
def test_a_write_lock_on_a_table_with_rows_is_unsafe_for_an_estimated_duration(
    lab, operations, level, said, recipe
):
    report = verdicts(lab, "0002_change", operations)

    operation = only(report)
    assert operation["level"] == level
    assert operation["deploy"] == "unsafe"
    assert said in operation["deploy_reason"]
    assert_lock_estimated(operation)
    assert recipe in operation["deploy_recipe"]
    assert report["deploy"] == "unsafe"


def test_an_index_on_an_empty_table_is_safe(lab):
    report = verdicts(
        lab,
        "0002_index",
        'migrations.AddIndex("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
        rows=False,
    )

    assert report["deploy"] == "safe"


@postgresql_only
def test_a_concurrent_index_in_a_non_atomic_migration_is_safe(lab):
    report = verdicts(
        lab,
        "0002_index",
        'AddIndexConcurrently("entry", models.Index(fields=["name"], name="lab_entry_name_idx")),',
        atomic=False,
        functions="from django.contrib.postgres.operations import AddIndexConcurrently",
    )

    operation = only(report)
    assert (operation["deploy"], operation["level"]) == ("safe", "low")
    assert report["deploy"] == "safe"


@postgresql_only
def test_create_index_in_run_sql_needs_concurrently(lab):
    plain = verdicts(
        lab, "0002_sql_index", 'migrations.RunSQL("CREATE INDEX lab_name ON lab_entry (name)"),'
    )
    assert only(plain)["deploy"] == "unsafe"
    assert "CREATE INDEX without CONCURRENTLY" in only(plain)["deploy_reason"]
    assert only(plain)["lock_seconds"] == estimate(3)

    lab.migration(
        "0002_sql_index",
        'migrations.RunSQL("CREATE INDEX CONCURRENTLY lab_name ON lab_entry (name)"),',
        atomic=False,
    )
    concurrent, _ = migration_risk_json("migration_lab")
    assert only(concurrent)["deploy"] == "safe"


# --- rewrites, with their estimated duration -----------------------------------------------------


@postgresql_only
def test_a_type_change_rewrites_but_widening_a_varchar_does_not(lab):
    report = verdicts(
        lab,
        "0002_types",
        'migrations.AlterField("entry", "score", models.BigIntegerField(null=True)),\n'
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=200, null=True)),',
    )

    wider, bigger = report["operations"][1], report["operations"][0]
    assert bigger["deploy"] == "unsafe"
    assert "rewrites integer -> bigint" in bigger["deploy_reason"]
    assert "Expand/contract" in bigger["deploy_recipe"]
    assert wider["deploy"] == "safe"


def test_the_duration_is_said_from_the_live_rows():
    rate = deploy.ROWS_PER_SECOND["postgresql"]

    assert deploy.lock_seconds("postgresql", 30 * rate) == 30.0
    assert deploy.duration_text(30.0, 30 * rate) == f"about 30 s for {30 * rate} rows"
    assert deploy.duration_text(0.0001, 3) == "under 0.1 s for 3 rows"
    assert deploy.lock_seconds("postgresql", None) is None


# --- the release still serving requests ----------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "said"),
    [
        ('migrations.RemoveField("entry", "code"),', "drops column lab_entry.code"),
        ('migrations.RenameField("entry", "code", "ref"),', "renames column code -> ref"),
        ('migrations.DeleteModel("entry"),', "drops table lab_entry"),
        ('migrations.AlterModelTable("entry", "lab_entries"),', "moves the model to table"),
    ],
)
def test_dropping_or_renaming_what_the_running_release_reads_is_unsafe(lab, operations, said):
    report = verdicts(lab, "0002_change", operations)

    operation = only(report)
    assert operation["deploy"] == "unsafe"
    assert said in operation["deploy_reason"]
    assert (
        "the code still serving requests during the deploy reads it" in (operation["deploy_reason"])
    )
    assert "release" in operation["deploy_recipe"]


def test_a_removal_from_the_state_only_is_the_safe_first_release(lab):
    report = verdicts(
        lab,
        "0002_forget_code",
        "migrations.SeparateDatabaseAndState(\n"
        '    state_operations=[migrations.RemoveField("entry", "code")],\n'
        "    database_operations=[],\n"
        "),",
    )

    assert report["operations"] == []  # no SQL runs: the column stays for the old release
    assert report["deploy"] == "safe"


def test_a_rename_with_db_column_runs_no_sql_and_is_safe(lab):
    report = verdicts(
        lab,
        "0002_alias",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, null=True, '
        'db_column="nickname")),\n'
        'migrations.RenameField("entry", "nickname", "alias"),',
    )

    assert [op["deploy"] for op in report["operations"]] == ["safe", "safe"]


# --- NOT NULL columns and database defaults ------------------------------------------------------


def test_a_not_null_column_with_only_a_python_default_breaks_old_inserts(lab):
    report = verdicts(
        lab, "0002_rank", 'migrations.AddField("entry", "rank", models.IntegerField(default=0)),'
    )

    operation = only(report)
    assert operation["level"] == "low"  # no data at risk
    assert operation["deploy"] == "unsafe"
    assert "without a db_default" in operation["deploy_reason"]
    assert "db_default" in operation["deploy_recipe"]


def test_a_not_null_column_with_a_db_default_or_a_nullable_one_is_safe(lab):
    report = verdicts(
        lab,
        "0002_rank",
        'migrations.AddField("entry", "rank", models.IntegerField(db_default=0)),\n'
        'migrations.AddField("entry", "note", models.TextField(null=True)),',
    )

    assert [op["deploy"] for op in report["operations"]] == ["safe", "safe"]


@postgresql_only
def test_a_volatile_database_default_rewrites_the_table_but_now_does_not(lab):
    report = verdicts(
        lab,
        "0002_defaults",
        'migrations.AddField("entry", "luck", models.FloatField(db_default=Random())),\n'
        'migrations.AddField("entry", "seen", models.DateTimeField(db_default=Now())),',
        functions="from django.db.models.functions import Now, Random",
    )

    luck, seen = report["operations"]
    assert luck["deploy"] == "unsafe"
    assert "volatile default" in luck["deploy_reason"]
    assert luck["lock_seconds"] == estimate(3)
    assert seen["deploy"] == "safe"


def test_new_tables_and_nullable_columns_are_safe(lab):
    report = verdicts(
        lab,
        "0002_more",
        'migrations.CreateModel("Tag", fields=[("id", models.AutoField(primary_key=True)), '
        '("label", models.CharField(max_length=10, unique=True))]),\n'
        'migrations.AddField("tag", "slug", models.SlugField()),\n'
        'migrations.AddField("entry", "note", models.TextField(null=True)),',
    )

    assert [op["deploy"] for op in report["operations"]] == ["safe", "safe", "safe"]
    assert report["deploy"] == "safe"


# --- SQLite ---------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_sqlite_rebuilds_the_table_and_says_so(lab):
    report = verdicts(
        lab,
        "0002_code_required",
        'migrations.AlterField("entry", "code", models.CharField(max_length=20, default="?")),',
    )

    operation = only(report)
    assert operation["deploy"] == "safe"  # three rows: the copy is over before anyone waits
    assert "rebuilds table lab_entry" in operation["deploy_reason"]
    assert "SQLite has one writer" in operation["deploy_reason"]
    assert operation["lock_seconds"] == estimate(3)


def test_a_sqlite_rebuild_of_many_rows_calls_for_caution():
    rows = 10 * deploy.ROWS_PER_SECOND["sqlite"]

    verdict = deploy.sqlite_rebuild("rebuilds table big", rows)

    assert verdict.deploy == deploy.Deploy.CAUTION
    assert f"about 10 s for {rows} rows" in verdict.reason
    assert deploy.sqlite_rebuild("rebuilds table small", 3).deploy == deploy.Deploy.SAFE


@postgresql_only
@pytest.mark.parametrize(
    ("statement", "deploy_verdict", "said"),
    [
        (
            "ALTER TABLE lab_entry ADD CONSTRAINT lab_score_small CHECK (score < 1000)",
            "unsafe",
            "adds a CHECK constraint without NOT VALID",
        ),
        (
            "ALTER TABLE lab_entry ADD CONSTRAINT lab_score_small CHECK (score < 1000) NOT VALID",
            "safe",
            "",
        ),
        (
            "ALTER TABLE lab_entry ADD CONSTRAINT lab_code_unique UNIQUE (code)",
            "unsafe",
            "adds a UNIQUE constraint: builds its index",
        ),
        ("ALTER TABLE lab_entry ALTER COLUMN name SET NOT NULL", "unsafe", "SET NOT NULL"),
        ("ALTER TABLE lab_entry DROP COLUMN code", "unsafe", "drops a column"),
    ],
)
def test_run_sql_is_read_for_locks_and_for_what_the_running_release_reads(
    lab, statement, deploy_verdict, said
):
    report = verdicts(lab, "0002_sql", f'migrations.RunSQL("{statement}"),')

    operation = only(report)
    assert operation["deploy"] == deploy_verdict
    assert said in operation["deploy_reason"]


def test_a_database_without_data_is_safe_to_deploy(tmp_path, backup_dir):
    with lab_app(tmp_path / "lab") as lab:
        lab.migration("0002_drop_code", 'migrations.RemoveField("entry", "code"),')
        report, ok = migration_risk_json("migration_lab")

    assert ok
    assert report["deploy"] == "safe"
    assert {op["deploy"] for op in report["operations"]} == {"safe"}


@postgresql_only
def test_a_default_the_guard_cannot_tell_is_volatile_calls_for_caution(lab):
    report = verdicts(
        lab,
        "0002_shout",
        'migrations.AddField("entry", "shout", models.TextField(db_default=MD5(Value("x")))),',
        functions="from django.db.models import Value\nfrom django.db.models.functions import MD5",
    )

    operation = only(report)
    assert operation["deploy"] == "caution"
    assert "default calls md5" in operation["deploy_reason"]


@postgresql_only
def test_set_not_null_after_a_validated_check_skips_the_scan_and_is_safe(lab):
    lab.insert_rows([("Ada", "Ada", "A1", 1), ("Grace", "Grace", "G1", 2)])
    lab.migration(
        "0002_code_checked",
        'migrations.AddConstraint("entry", models.CheckConstraint('
        'condition=Q(code__isnull=False), name="lab_entry_code_not_null")),',
    )
    call_command("migrate", "migration_lab", "0002", verbosity=0)
    lab.migration(
        "0003_code_required",
        'migrations.AlterField("entry", "code", models.CharField(max_length=20)),',
        depends="0002_code_checked",
    )

    report, _ = migration_risk_json("migration_lab")

    operation = only(report)
    assert operation["deploy"] == "safe"
    assert "validated CHECK (code IS NOT NULL)" in operation["deploy_reason"]


FILL_NOTES = """
def fill_notes(apps, schema_editor):
    apps.get_model("migration_lab", "Entry").objects.update(note="seen")
"""


@postgresql_only
def test_a_data_migration_after_schema_changes_runs_with_their_locks_held(lab):
    report = verdicts(
        lab,
        "0002_notes",
        'migrations.AddField("entry", "note", models.TextField(null=True)),\n'
        "migrations.RunPython(fill_notes, migrations.RunPython.noop),",
        functions=FILL_NOTES,
    )

    add, fill = report["operations"]
    assert add["deploy"] == "safe"
    assert fill["deploy"] == "caution"
    assert "hold their locks on lab_entry until it commits" in fill["deploy_reason"]
    assert "atomic = False" in fill["deploy_recipe"]


@postgresql_only
def test_a_data_migration_of_its_own_holds_no_schema_lock(lab):
    lab.insert_rows()
    lab.migration("0002_note", 'migrations.AddField("entry", "note", models.TextField(null=True)),')
    lab.migration(
        "0003_fill_notes",
        "migrations.RunPython(fill_notes, migrations.RunPython.noop),",
        functions=FILL_NOTES,
        depends="0002_note",
    )

    report, _ = migration_risk_json("migration_lab")

    assert [op["deploy"] for op in report["operations"]] == ["safe", "safe"]
