"""The guard's verdicts on operations it used to misjudge: each one checked against what the
real database then does with the standard lab rows (tests/migration_lab/lab.py)."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import migration_risk_json

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*args, **options) -> str:
    """`migrate` as a terminal runs it; what it printed (stdout and stderr together)."""
    out = io.StringIO()
    call_command("migrate", *args, stdout=out, stderr=out, **{"verbosity": 1, **options})
    return out.getvalue()


def reasons(report: dict) -> list[str]:
    return [op["reason"] for op in report["operations"]]


def pre_migration_backups():
    return Backup.objects.filter(kind=Backup.Kind.PRE_MIGRATION)


def scores() -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT score FROM lab_entry ORDER BY id")
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
    assert scores() == ["10", "20", None]
    assert SchemaChange.objects.latest("id").backup_name == pre_migration_backups().get().name
