"""Verdicts the measured corpus (tests/migration_lab/corpus) showed the guard getting wrong, each
checked here with the lab rows (tests/migration_lab/lab.py) on the real database."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection

from tests.backups_app.conftest import migration_risk_json

pytestmark = pytest.mark.django_db(transaction=True)

postgresql_only = pytest.mark.postgresql_only


def only_finding(lab, operations: str, *, functions: str = "") -> dict:
    """The one finding `migration_risk --json` gives for a migration of `operations`, run after
    the lab rows are in."""
    lab.insert_rows()
    lab.migration("0002_change", operations, functions=functions)
    report, _ = migration_risk_json("migration_lab")
    (finding,) = report["operations"]
    return finding


def column(name: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM lab_entry ORDER BY id")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
def test_truncate_blocks_the_table_and_empties_it_under_the_running_release(lab):
    finding = only_finding(lab, 'migrations.RunSQL("TRUNCATE lab_entry"),')

    assert (finding["level"], finding["deploy"]) == ("high", "unsafe")
    assert "ACCESS EXCLUSIVE" in finding["deploy_reason"]


def test_a_stored_generated_column_loses_nothing(lab):
    finding = only_finding(
        lab,
        'migrations.AddField("entry", "name_lower", models.GeneratedField('
        'expression=Lower("name"), output_field=models.CharField(max_length=100), '
        "db_persist=True)),",
        functions="from django.db.models.functions import Lower\n",
    )

    assert finding["level"] == "low", finding["reason"]
    assert "generated column name_lower" in finding["reason"]
    call_command("migrate", "migration_lab", verbosity=0)
    assert column("name") == ["Alexandra", "Bartholomew", "Bartholomew"]
    assert column("name_lower") == ["alexandra", "bartholomew", "bartholomew"]


def test_a_not_null_column_added_in_sql_without_a_default_is_predicted_to_fail(lab):
    finding = only_finding(
        lab, 'migrations.RunSQL("ALTER TABLE lab_entry ADD COLUMN must varchar(10) NOT NULL"),'
    )

    assert (finding["level"], finding["deploy"]) == ("high", "unsafe")
    assert "would fail" in finding["reason"]
    with pytest.raises(DatabaseError), connection.cursor() as cursor:  # as predicted
        cursor.execute("ALTER TABLE lab_entry ADD COLUMN must varchar(10) NOT NULL")


@pytest.mark.parametrize(
    ("statement", "level", "said"),
    [
        ("DELETE FROM lab_entry WHERE score IS NULL", "high", "deletes 1 of 3 row(s)"),
        (
            "UPDATE lab_entry SET nickname = NULL WHERE name LIKE 'Bart%%'",
            "high",
            "UPDATE overwrites values in 1 of 3 row(s)",  # the other nickname is NULL
        ),
        (
            "UPDATE lab_entry SET code = 'X', score = 1 WHERE code IS NULL OR score > 15",
            "high",
            "UPDATE overwrites values in 1 of 3 row(s)",  # the other selected row is all NULL
        ),
        ("UPDATE lab_entry SET code = 'X' WHERE code IS NULL", "medium", "only fills NULLs"),
        ("DELETE FROM lab_entry WHERE score > 1000", "low", "matches none of 3 row(s)"),
        ("DELETE FROM lab_entry WHERE no_such_column = 1", "medium", "changes some of 3"),
    ],
)
def test_a_delete_or_update_with_a_where_counts_the_rows_it_would_change(
    lab, statement, level, said
):
    finding = only_finding(lab, f'migrations.RunSQL("{statement}"),')

    assert finding["level"] == level
    assert said in finding["reason"]
    assert lab.count() == 3  # counted, never run
    assert column("nickname") == ["Alex", None, "Bart"]


def test_a_where_with_a_placeholder_is_not_counted(lab):
    finding = only_finding(
        lab, 'migrations.RunSQL([("DELETE FROM lab_entry WHERE score = %s", [10])]),'
    )

    assert finding["level"] == "medium"
    assert lab.count() == 3


@postgresql_only
def test_text_that_is_not_an_integer_makes_the_cast_to_integer_fail(lab):
    finding = only_finding(
        lab, 'migrations.AlterField("entry", "code", models.IntegerField(null=True)),'
    )

    assert finding["level"] == "high"
    assert "would fail: 2 value(s) are not integers" in finding["reason"]
    with pytest.raises(DatabaseError), connection.cursor() as cursor:  # as predicted
        cursor.execute("SELECT CAST(code AS integer) FROM lab_entry")


def test_text_that_holds_only_integers_is_a_type_change(lab):
    lab.insert_rows([("Ada", None, "12", 1), ("Bob", None, " -3 ", 2), ("Cy", None, None, 3)])
    lab.migration(
        "0002_change", 'migrations.AlterField("entry", "code", models.IntegerField(null=True)),'
    )

    report, _ = migration_risk_json("migration_lab")

    (finding,) = report["operations"]
    assert finding["level"] == "medium", finding["reason"]
    call_command("migrate", "migration_lab", verbosity=0)
    assert column("code") == [12, -3, None]


@pytest.mark.sqlite_only
def test_sqlite_keeps_text_that_is_not_an_integer(lab):
    finding = only_finding(
        lab, 'migrations.AlterField("entry", "code", models.IntegerField(null=True)),'
    )

    assert finding["level"] == "medium", finding["reason"]
    call_command("migrate", "migration_lab", verbosity=0)
    assert column("code") == ["A1", "B2", None]
