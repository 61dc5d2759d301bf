"""The guard's verdicts on operations it used to misjudge: each one checked against what the
real database then does with the standard lab rows (tests/migration_lab/lab.py)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import migrate, migration_risk_json

pytestmark = pytest.mark.django_db(transaction=True)


def reasons(report: dict) -> list[str]:
    return [op["reason"] for op in report["operations"]]


def pre_migration_backups():
    return Backup.objects.filter(kind=Backup.Kind.PRE_MIGRATION)


def lab_column(column: str) -> list:
    """The values of one column of the lab table, in row order, as the database holds them."""
    with connection.cursor() as cursor:
        quoted = connection.ops.quote_name(column)
        cursor.execute(f"SELECT {quoted} FROM lab_entry ORDER BY id")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_an_integer_column_becoming_text_is_a_type_change_not_a_shrink(lab):
    lab.insert_rows()
    lab.migration(
        "0002_score_as_text",
        # The CHECK (score >= 0) would not apply to text: PostgreSQL refuses the change with it.
        'migrations.RemoveConstraint("entry", "lab_entry_score_not_negative"),\n'
        'migrations.AlterField("entry", "score", models.CharField(max_length=20, null=True)),',
    )

    report, ok = migration_risk_json("migration_lab")

    assert ok
    assert report["risk"] == "medium", reasons(report)
    reason = reasons(report)[1]
    assert "changes the column type" in reason
    assert "shrinks" not in reason and "unlimited" not in reason
    migrate("migration_lab")
    assert "0002_score_as_text" in lab.applied()
    assert lab_column("score") == ["10", "20", None]
    assert SchemaChange.objects.latest("id").backup_name == pre_migration_backups().get().name


def test_a_shorter_max_length_says_what_each_database_does_with_longer_values(lab):
    lab.insert_rows()
    lab.migration(
        "0002_short_names",
        'migrations.AlterField("entry", "name", models.CharField(max_length=5)),',
    )

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    (finding,) = report["operations"]
    assert (finding["level"], finding["rows"]) == ("high", 3)
    assert finding["reason"].startswith("shrinks max_length 100 -> 5: 3 value(s) are longer")
    assert "lost" not in finding["reason"]  # neither database cuts a value here
    if connection.vendor == "postgresql":
        assert "PostgreSQL rejects them" in finding["reason"]
        assert "value too long for type character varying(5)" in finding["reason"]
        assert "the migration would fail" in finding["reason"]
        return
    assert "SQLite keeps them whole" in finding["reason"]
    assert "validation will reject those rows" in finding["reason"]
    migrate("migration_lab", allow_dangerous=True, reason="test: SQLite keeps long values")
    assert lab_column("name") == ["Alexandra", "Bartholomew", "Bartholomew"]


def test_a_cast_into_a_shorter_text_column_says_what_each_database_does(lab):
    lab.insert_rows()
    lab.migration(
        "0002_score_as_a_digit",
        'migrations.RemoveConstraint("entry", "lab_entry_score_not_negative"),\n'
        'migrations.AlterField("entry", "score", models.CharField(max_length=1, null=True)),',
    )

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    finding = report["operations"][1]
    assert (finding["level"], finding["rows"]) == ("high", 2)
    assert "changes the column type" in finding["reason"]
    if connection.vendor == "postgresql":
        # Django casts with USING score::varchar(1), and an explicit cast truncates.
        assert "PostgreSQL's cast cuts them to 1 character(s)" in finding["reason"]
        assert "lost" in finding["reason"]
    else:
        assert "SQLite keeps them whole" in finding["reason"]
    migrate("migration_lab", allow_dangerous=True, reason="test: what the report says happens")
    cut = connection.vendor == "postgresql"
    assert lab_column("score") == (["1", "2", None] if cut else ["10", "20", None])


# Operations the database rejects on the standard rows (one nickname is NULL): no value for the
# existing rows. Django fills them only from a default, and PostgreSQL only from a declared one.
NO_VALUE_FOR_EXISTING_ROWS = {
    "not_null_over_nulls": (
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100)),',
        "makes nickname NOT NULL: 1 row(s) are NULL",
        1,
    ),
    "not_null_column_without_default": (
        'migrations.AddField("entry", "rank", models.IntegerField()),',
        "adds NOT NULL column rank without a default",
        3,
    ),
}


@pytest.mark.parametrize("name", NO_VALUE_FOR_EXISTING_ROWS)
def test_a_change_that_leaves_rows_without_a_value_is_refused_as_a_failure(lab, name):
    operations, what, rows = NO_VALUE_FOR_EXISTING_ROWS[name]
    lab.insert_rows()
    lab.migration("0002_required", operations)

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    (finding,) = report["operations"]
    assert (finding["level"], finding["rows"]) == ("high", rows)
    assert what in finding["reason"] and "the migration would fail" in finding["reason"]
    with pytest.raises(CommandError, match="Refused: 1 high-risk operation"):
        migrate("migration_lab")
    assert not pre_migration_backups().exists()  # refused before any backup
    assert "0002_required" not in lab.applied()


@pytest.mark.parametrize("name", NO_VALUE_FOR_EXISTING_ROWS)
def test_a_migration_failing_in_the_database_ends_in_one_line_and_a_ledger_entry(lab, name):
    operations, _, _ = NO_VALUE_FOR_EXISTING_ROWS[name]
    lab.insert_rows()
    lab.migration("0002_required", operations)
    out = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command(
            "migrate",
            "migration_lab",
            allow_dangerous=True,
            reason="test: the database refuses it",
            stdout=out,
            stderr=out,
        )

    message = str(failed.value)
    change = SchemaChange.objects.latest("id")
    assert "\n" not in message
    assert message.startswith("migration_lab.0002_required failed: ")
    assert ("NULL" in message) or ("null" in message)  # the database's own words
    assert message.endswith(f"Recorded as schema change #{change.pk}.")
    assert "Traceback" not in out.getvalue() + message
    assert "Applying migration_lab.0002_required... FAILED" in out.getvalue()
    assert change.outcome == "failed"
    assert change.backup_name  # taken before the run
    assert "0002_required" not in lab.applied()
    assert lab.count() == 3


@pytest.mark.parametrize(
    "operations",
    [
        # An empty string is the value a blank CharField gets: Django fills it in.
        'migrations.AddField("entry", "note", models.CharField(max_length=10, blank=True)),',
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, default="")),',
        'migrations.AddField("entry", "rank", models.IntegerField(db_default=0)),',
    ],
)
def test_a_change_that_gives_existing_rows_a_value_runs(lab, operations):
    lab.insert_rows()
    lab.migration("0002_required", operations)

    report, ok = migration_risk_json("migration_lab")

    assert ok, reasons(report)
    migrate("migration_lab")
    assert "0002_required" in lab.applied()


def test_a_blank_text_field_made_not_null_is_filled_on_sqlite_only(lab):
    # SQLite copies the table with COALESCE(nickname, ''); PostgreSQL writes no default for a
    # field that declares none, so SET NOT NULL meets the NULL.
    lab.insert_rows()
    lab.migration(
        "0002_required",
        'migrations.AlterField("entry", "nickname", models.CharField(max_length=100, blank=True)),',
    )

    report, ok = migration_risk_json("migration_lab")

    if connection.vendor == "postgresql":
        assert not ok
        assert "no default fills them, so the migration would fail" in reasons(report)[0]
        return
    assert ok, reasons(report)
    migrate("migration_lab")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nickname FROM lab_entry ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["Alex", "", "Bart"]


CONCURRENTLY = (
    "from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently\n"
)
ADD_INDEX_CONCURRENTLY = (
    'AddIndexConcurrently("entry", models.Index(fields=["name"], name="lab_entry_name_ix")),'
)


def lab_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "lab_entry"))


@pytest.mark.postgresql_only
def test_concurrent_index_operations_in_a_non_atomic_migration_pass(lab):
    lab.insert_rows()
    lab.migration("0002_index", ADD_INDEX_CONCURRENTLY, functions=CONCURRENTLY, atomic=False)

    report, ok = migration_risk_json("migration_lab")

    assert ok
    assert report["risk"] == "low", reasons(report)
    migrate("migration_lab")
    assert "lab_entry_name_ix" in lab_indexes()
    lab.migration(
        "0003_no_index",
        'RemoveIndexConcurrently("entry", "lab_entry_name_ix"),',
        functions=CONCURRENTLY,
        depends="0002_index",
        atomic=False,
    )
    assert migration_risk_json("migration_lab")[0]["risk"] == "low"
    migrate("migration_lab")
    assert "lab_entry_name_ix" not in lab_indexes()
    assert migration_risk_json("migration_lab", "0002")[0]["risk"] == "low"  # undoing it too
    assert not pre_migration_backups().exists()
    assert SchemaChange.objects.latest("id").outcome == "applied"


def test_a_concurrent_index_in_an_atomic_migration_is_predicted_to_fail(lab):
    lab.insert_rows()
    lab.migration("0002_index", ADD_INDEX_CONCURRENTLY, functions=CONCURRENTLY)

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    (reason,) = reasons(report)
    assert "cannot read" not in reason and "destructive" not in reason
    assert "the migration would fail" in reason
    if connection.vendor == "postgresql":
        assert "atomic = False" in reason
    else:
        assert "PostgreSQL only" in reason
    with pytest.raises(CommandError, match="Refused"):
        migrate("migration_lab")
    assert not pre_migration_backups().exists()


@pytest.mark.sqlite_only
def test_a_concurrent_index_is_predicted_to_fail_on_sqlite_even_outside_a_transaction(lab):
    lab.insert_rows()
    lab.migration("0002_index", ADD_INDEX_CONCURRENTLY, functions=CONCURRENTLY, atomic=False)

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    assert "PostgreSQL only" in reasons(report)[0]
    assert "the migration would fail" in reasons(report)[0]


@pytest.mark.parametrize(
    ("operations", "what"),
    [
        ('migrations.RenameModel("Entry", "Item"),', "renames model Entry -> Item"),
        (
            'migrations.AlterField("entry", "nickname", '
            'models.CharField(max_length=100, null=True, db_column="nickname")),\n'
            'migrations.RenameField("entry", "nickname", "alias"),',
            "renames field nickname -> alias",
        ),
    ],
)
def test_a_rename_that_keeps_the_database_names_runs_no_sql_and_takes_no_backup(
    lab, operations, what
):
    lab.insert_rows()
    lab.migration("0002_rename", operations)

    report, ok = migration_risk_json("migration_lab")

    assert ok
    assert report["risk"] == "none", reasons(report)
    assert f"{what}: the table keeps its name and no SQL runs" in reasons(report)
    migrate("migration_lab")
    assert lab.columns() == ["id", "name", "nickname", "code", "score"]
    assert not pre_migration_backups().exists()


@pytest.mark.parametrize(
    "added",
    [
        "models.CharField(max_length=20, null=True)",  # too short for the nicknames it replaced
        "models.IntegerField(null=True)",  # another type
        "models.CharField(max_length=100)",  # NOT NULL, where nicknames can be NULL
    ],
)
def test_removing_one_field_and_adding_an_unrelated_one_is_no_rename(lab, added):
    lab.insert_rows()
    lab.migration(
        "0002_referral",
        'migrations.RemoveField("entry", "nickname"),\n'
        f'migrations.AddField("entry", "referral_code", {added}),',
    )

    report, _ = migration_risk_json("migration_lab")

    removal = report["operations"][0]
    assert removal["level"] == "high"
    assert removal["reason"].startswith("drops column nickname: 2 value(s)")
    assert not any("rename" in reason for reason in reasons(report))


def test_a_field_removed_and_added_again_under_its_name_recreates_the_column(lab):
    lab.insert_rows()
    lab.migration(
        "0002_recreate",
        'migrations.RemoveField("entry", "nickname"),\n'
        'migrations.AddField("entry", "nickname", models.CharField(max_length=100, null=True)),',
    )

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    for reason in reasons(report):
        assert reason.startswith("recreates column nickname: 2 value(s) would be lost")
        assert "rename" not in reason


def test_a_field_replaced_by_one_of_the_same_shape_reads_as_an_accidental_rename(lab):
    lab.insert_rows()
    lab.migration(
        "0002_alias",
        'migrations.RemoveField("entry", "nickname"),\n'
        'migrations.AddField("entry", "alias", '
        "models.CharField(max_length=150, null=True, blank=True)),",
    )

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    assert reasons(report)[0].startswith("looks like an accidental rename of nickname to alias")
