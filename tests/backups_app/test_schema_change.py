"""Guarded migrations end to end (§7): the July incident, overrides, failures midway, rollback,
and what the ledger says about each (reviews: test_migration_review)."""

import io
import json
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app.engines import get_engine
from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import migrate, migration_risk_json, write_script
from tests.factories import SignupFactory
from tests.migration_lab.lab import ROWS
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

# What the July 2025 team did to fix a field: drop the signup table and create it again.
DROP_AND_RECREATE = """
def recreate_signup_table(apps, schema_editor):
    Signup = apps.get_model("waitlist", "Signup")
    schema_editor.delete_model(Signup)
    schema_editor.create_model(Signup)
"""


def drop_and_recreate_sql() -> str:
    """The same in SQL, as the July team would have typed it: DROP TABLE, then CREATE TABLE."""
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.create_model(Signup)
    statements = ["DROP TABLE waitlist_responses", *editor.collected_sql]
    return f"migrations.RunSQL({statements!r}),"


@pytest.mark.parametrize("written_as", ["RunPython", "RunSQL"])
def test_the_july_incident_is_refused_then_backed_up_and_rolled_back(lab, signups, written_as):
    if written_as == "RunPython":
        lab.migration(
            "0002_recreate_signups",
            "migrations.RunPython(recreate_signup_table),",
            functions=DROP_AND_RECREATE,
        )
        explained = "recreate_signup_table uses delete_model"
    else:
        lab.migration("0002_recreate_signups", drop_and_recreate_sql())
        explained = "drops and recreates waitlist_responses: DROP TABLE destroys 3 row(s)"

    with pytest.raises(CommandError, match="Refused") as refused:
        migrate("migration_lab", verbosity=0)  # no report printed: the error says it all

    assert explained in str(refused.value)
    assert Signup.objects.count() == 3
    assert SchemaChange.objects.latest("id").outcome == "refused"
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_MIGRATION).exists()

    output = migrate(
        "migration_lab", allow_dangerous=True, reason="fix the field compatibility problem"
    )

    assert Signup.objects.count() == 0  # the migration did what it said
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "applied"
    assert change.risk == "high"
    assert change.allowed_dangerous
    assert change.reason == "fix the field compatibility problem"
    assert change.triggered_by.startswith("cli")
    backup = Backup.objects.get(name=change.backup_name)
    assert backup.kind == Backup.Kind.PRE_MIGRATION
    assert backup.pinned and backup.verification_ok and backup.restore_tested
    assert backup.row_counts["waitlist_responses"] == 3
    assert f"Pre-migration backup {backup.name}" in output
    late = SignupFactory(email="late@example.com")  # someone signs up after the migration

    out = io.StringIO()
    call_command("rollback_schema_change", str(change.pk), yes=True, stdout=out)

    emails = set(Signup.objects.values_list("email", flat=True))
    assert emails == {s.email for s in signups} | {late.email}
    assert "0002_recreate_signups" not in lab.applied()  # the schema state is back too
    change = SchemaChange.objects.get(pk=change.pk)
    assert change.outcome == "rolled_back"
    assert change.rolled_back_at is not None
    assert "1 later signup(s) re-inserted" in change.rollback_detail
    assert SchemaChange.objects.filter(outcome="refused").exists()


def test_allow_dangerous_without_a_reason_applies_nothing(lab):
    lab.insert_rows()
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')

    with pytest.raises(CommandError, match="--reason"):
        migrate("migration_lab", allow_dangerous=True, reason="   ")

    assert "nickname" in lab.columns()
    assert "0002_drop" not in lab.applied()


@pytest.mark.parametrize(
    ("operations", "action"),
    [
        ('migrations.AddField("entry", "extra", models.IntegerField(null=True)),', "apply"),
        ('migrations.RenameField("entry", "nickname", "alias"),', "backup_then_apply"),
        ('migrations.RemoveField("entry", "nickname"),', "refuse"),
    ],
)
def test_migration_risk_json_says_what_migrate_then_does(lab, operations, action):
    lab.insert_rows()
    lab.migration("0002_change", operations)
    report, ok = migration_risk_json("migration_lab")
    assert report["action"] == action
    assert ok == (action != "refuse")

    if action == "refuse":
        with pytest.raises(CommandError):
            migrate("migration_lab")
    else:
        migrate("migration_lab")
    change = SchemaChange.objects.latest("id")
    assert change.outcome == {"refuse": "refused"}.get(action, "applied")
    assert bool(change.backup_name) == (action == "backup_then_apply")
    assert change.plan["action"] == action


def test_a_migration_failing_midway_is_recorded_and_its_backup_restores(lab):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    lab.migration(
        "0003_broken",
        'migrations.RunSQL("UPDATE lab_missing_table SET x = 1 WHERE x = 2"),',
        depends="0002_rename",
    )

    with pytest.raises(CommandError, match="^migration_lab.0003_broken failed: .*lab_missing"):
        migrate("migration_lab")

    change = SchemaChange.objects.latest("id")
    assert change.outcome == "failed"
    assert "lab_missing_table" in change.error
    assert "migration_lab.0002_rename" in change.error  # what did get applied
    assert "migration_lab.0002_rename" in change.applied_after
    assert "alias" in lab.columns()

    call_command("rollback_schema_change", str(change.pk), yes=True, stdout=io.StringIO())

    assert "nickname" in lab.columns()
    assert lab.count() == len(ROWS)
    assert lab.applied() == {"0001_initial"}
    assert SchemaChange.objects.get(pk=change.pk).outcome == "rolled_back"


def test_unapplying_a_migration_that_created_a_table_with_rows_is_refused(lab):
    lab.insert_rows()
    report, ok = migration_risk_json("migration_lab", "zero")
    assert not ok
    assert report["operations"][0]["direction"] == "unapply"
    with pytest.raises(CommandError, match="drops table lab_entry and its 3 row"):
        migrate("migration_lab", "zero", verbosity=0)
    assert lab.count() == len(ROWS)


def test_an_empty_database_migrates_back_and_forth_without_backups(backup_dir):
    before = SchemaChange.objects.count()  # creating the test database is a guarded run too

    migrate("waitlist", "zero")
    migrate("waitlist")

    assert not Backup.objects.exists()
    runs = SchemaChange.objects.order_by("id")[before:]
    assert [(c.risk, c.backup_name, c.outcome) for c in runs] == [("none", "", "applied")] * 2


def test_a_failed_pre_migration_backup_applies_nothing(lab, settings, tmp_path):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    broken = write_script(tmp_path / "broken-dump", "echo 'disk on fire' >&2\nexit 3\n")
    if connection.vendor == "postgresql":
        settings.BACKUP_PG_DUMP = str(broken)
    else:
        settings.BACKUP_SQLITE3 = str(broken)

    with pytest.raises(CommandError, match="disk on fire"):
        migrate("migration_lab")

    assert "nickname" in lab.columns()
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "failed"
    assert change.error.startswith("No migration was applied")


def test_a_migration_waits_for_a_running_backup_and_gives_up_cleanly(lab, settings):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 0.3

    with get_engine().lock(timeout=1), pytest.raises(CommandError, match="Another backup"):
        migrate("migration_lab")

    assert "nickname" in lab.columns()
    assert SchemaChange.objects.latest("id").outcome == "failed"


def test_a_terminal_asks_before_destroying_data(lab, monkeypatch):
    lab.insert_rows()
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    with pytest.raises(CommandError, match="Not confirmed"):
        migrate("migration_lab", allow_dangerous=True, reason="cleanup")
    assert "nickname" in lab.columns()

    monkeypatch.setattr("builtins.input", lambda prompt: "apply")
    migrate("migration_lab", allow_dangerous=True, reason="cleanup")
    assert "nickname" not in lab.columns()


@pytest.mark.parametrize(
    ("outcome", "backup_name", "message"),
    [
        ("refused", "", "nothing to roll back"),
        ("applied", "", "took no verified backup"),
        ("rolled_back", "backup-x.sql", "already rolled back"),
    ],
)
def test_rollback_refuses_what_it_cannot_undo(backup_dir, outcome, backup_name, message):
    change = SchemaChange.objects.create(outcome=outcome, backup_name=backup_name)
    with pytest.raises(CommandError, match=message):
        call_command("rollback_schema_change", str(change.pk), yes=True)


def test_rollback_of_an_unknown_change_says_so(backup_dir):
    with pytest.raises(CommandError, match="no schema change #999"):
        call_command("rollback_schema_change", "999", yes=True)


def test_rollback_without_a_terminal_needs_yes(backup_dir):
    change = SchemaChange.objects.create(outcome="applied", backup_name="backup-x.sql")
    with pytest.raises(CommandError, match="--yes"):
        call_command("rollback_schema_change", str(change.pk))


def test_undoing_a_migration_is_read_too(lab):
    lab.migration(
        "0002_seed",
        "migrations.RunSQL(\"INSERT INTO lab_entry (name) VALUES ('seed')\", "
        'reverse_sql="DELETE FROM lab_entry"),',
    )
    migrate("migration_lab")  # an empty table: nothing at risk
    lab.insert_rows()

    report, ok = migration_risk_json("migration_lab", "0001")

    assert not ok
    assert report["operations"][0]["direction"] == "unapply"
    assert "DELETE without a WHERE" in report["operations"][0]["reason"]
    with pytest.raises(CommandError, match="Refused"):
        migrate("migration_lab", "0001")
    assert lab.count() == len(ROWS) + 1


def test_fake_runs_are_recorded_and_touch_nothing(lab):
    lab.insert_rows()
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')

    migrate("migration_lab", fake=True)

    assert "nickname" in lab.columns()
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "applied"
    assert change.reason.startswith("--fake")
    assert not change.backup_name


def test_a_non_atomic_migration_failing_midway_can_still_be_rolled_back(lab):
    lab.insert_rows()
    lab.migration(
        "0002_partial",
        'migrations.RunSQL("DELETE FROM lab_entry WHERE id > 0"),\n'
        'migrations.RunSQL("UPDATE lab_missing_table SET x = 1 WHERE x = 2"),',
        atomic=False,
    )

    with pytest.raises(CommandError, match="^migration_lab.0002_partial failed: .*lab_missing"):
        # Deleting every row is high risk: run on purpose, with the reason in the ledger.
        migrate("migration_lab", allow_dangerous=True, reason="clear the lab table")

    assert lab.count() == 0  # the first statement was committed before the second failed
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "failed"
    assert "non-atomic migration may have changed data" in change.error
    assert "0002_partial" not in lab.applied()

    call_command("rollback_schema_change", str(change.pk), yes=True, stdout=io.StringIO())

    assert lab.count() == len(ROWS)


def test_rollback_refuses_while_a_later_change_depends_on_it(backup_dir):
    first = SchemaChange.objects.create(
        outcome="applied", backup_name="backup-x.sql", applied_before=[], applied_after=["a.1"]
    )
    later = SchemaChange.objects.create(
        outcome="applied",
        risk="medium",
        backup_name="backup-y.sql",
        applied_before=["a.1"],
        applied_after=["a.2"],
    )
    with pytest.raises(CommandError, match=f"#{later.pk} \\(risk medium\\) ran after #{first.pk}"):
        call_command("rollback_schema_change", str(first.pk), yes=True)


def test_dropping_order_with_respect_to_is_a_dropped_column(lab):
    lab.migration(
        "0002_ordered",
        'migrations.CreateModel("Group", [("id", models.AutoField(primary_key=True))], '
        'options={"db_table": "lab_group"}),\n'
        'migrations.AddField("entry", "group", models.ForeignKey("migration_lab.group", '
        "null=True, on_delete=models.CASCADE)),\n"
        'migrations.AlterOrderWithRespectTo("entry", "group"),',
    )
    migrate("migration_lab")
    with connection.cursor() as cursor:
        for order, (name, *_) in enumerate(ROWS):
            cursor.execute('INSERT INTO lab_entry (name, "_order") VALUES (%s, %s)', [name, order])
    lab.migration(
        "0003_unordered",
        'migrations.AlterOrderWithRespectTo("entry", None),',
        depends="0002_ordered",
    )

    report, ok = migration_risk_json("migration_lab")

    assert not ok
    assert report["operations"][0]["column"] == "_order"
    assert "the order of 3 row(s) would be lost" in report["operations"][0]["reason"]


def test_the_ledger_outlives_the_restore_of_a_rollback(lab):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    migrate("migration_lab")
    change = SchemaChange.objects.latest("id")
    # Written after the backup was taken: the restore alone would lose it.
    after_backup = SchemaChange.objects.create(outcome="refused", reason="written later")

    call_command("rollback_schema_change", str(change.pk), yes=True, stdout=io.StringIO())

    assert SchemaChange.objects.get(pk=after_backup.pk).reason == "written later"
    assert SchemaChange.objects.get(pk=change.pk).outcome == "rolled_back"
    following = SchemaChange.objects.create(outcome="refused")  # the id sequence moved on too
    assert following.pk > after_backup.pk


def test_rollback_refuses_a_change_that_failed_inside_a_transaction(backup_dir):
    change = SchemaChange.objects.create(
        outcome="failed",
        backup_name="backup-x.sql",
        applied_before=["a.1"],
        applied_after=["a.1"],
        plan={"atomic": True},
    )
    with pytest.raises(CommandError, match="applied nothing"):
        call_command("rollback_schema_change", str(change.pk), yes=True)


def test_conflicting_migrations_are_left_to_django_before_any_backup(lab):
    lab.insert_rows()
    lab.migration("0002_one", 'migrations.RenameField("entry", "nickname", "alias"),')
    lab.migration("0002_two", 'migrations.RenameField("entry", "code", "reference"),')
    before = SchemaChange.objects.count()

    with pytest.raises(CommandError, match="Conflicting migrations"):
        migrate("migration_lab")
    with pytest.raises(CommandError, match="Conflicting migrations"):
        call_command("migration_risk", "migration_lab")

    assert not Backup.objects.exists()
    assert SchemaChange.objects.count() == before


def test_migration_risk_names_an_unknown_database_clearly(backup_dir):
    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        call_command("migration_risk", "--database", "nope")


@pytest.mark.postgresql_only
def test_a_backup_that_fails_its_restore_test_applies_nothing(lab, settings, tmp_path):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    settings.BACKUP_PSQL = str(
        write_script(tmp_path / "psql", "echo 'could not restore' >&2\nexit 2\n")
    )

    with pytest.raises(CommandError, match="failed verification"):
        migrate("migration_lab")

    assert "nickname" in lab.columns()
    change = SchemaChange.objects.latest("id")
    assert change.outcome == "failed"
    assert change.backup_name == ""  # an unverified backup is never offered for rollback


def test_djangos_own_data_migrations_are_backed_up_not_refused(backup_dir, signups):
    call_command("migrate", "auth", "0010", verbosity=0, allow_dangerous=True, reason="test")

    report, ok = migration_risk_json("auth")

    assert ok  # auth.0011 runs Python on a database with data, but Django reviewed it
    assert report["migrations"][0]["review"] == "reviewed"
    assert report["migrations"][0]["review_reason"] == "shipped with Django"
    migrate("auth")
    assert SchemaChange.objects.latest("id").outcome == "applied"


def test_rollback_to_an_older_schema_still_puts_later_signups_back(lab, signups):
    # Before the change the signup table has no city column; the change adds it (as new code
    # adding a field would), and a signup arrives with it.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE waitlist_responses DROP COLUMN city")
    try:
        lab.migration(
            "0002_add_city",
            'migrations.RunSQL("ALTER TABLE waitlist_responses ADD COLUMN city varchar(100) '
            "NOT NULL DEFAULT ''\"),",
        )
        migrate("migration_lab")
        change = SchemaChange.objects.latest("id")
        assert change.backup_name
        late = SignupFactory(email="late@example.com", city="Lagos")

        call_command("rollback_schema_change", str(change.pk), yes=True, stdout=io.StringIO())

        with connection.cursor() as cursor:
            cursor.execute("SELECT email FROM waitlist_responses")
            emails = {row[0] for row in cursor.fetchall()}
        assert emails == {s.email for s in signups} | {late.email}
        assert "1 of 1 later signup(s) re-inserted" in (
            SchemaChange.objects.get(pk=change.pk).rollback_detail
        )
    finally:
        with connection.cursor() as cursor:
            columns = {
                c.name
                for c in connection.introspection.get_table_description(
                    cursor, "waitlist_responses"
                )
            }
            if "city" not in columns:
                cursor.execute(
                    "ALTER TABLE waitlist_responses ADD COLUMN city varchar(100) NOT NULL "
                    "DEFAULT ''"
                )


def test_later_changes_that_risked_nothing_are_undone_with_the_rollback(lab):
    lab.insert_rows()
    lab.migration("0002_rename", 'migrations.RenameField("entry", "nickname", "alias"),')
    migrate("migration_lab")
    first = SchemaChange.objects.latest("id")
    lab.migration(
        "0003_extra",
        'migrations.AddField("entry", "extra", models.IntegerField(null=True)),',
        depends="0002_rename",
    )
    migrate("migration_lab")
    second = SchemaChange.objects.latest("id")
    assert second.risk == "low" and not second.backup_name

    call_command("rollback_schema_change", str(first.pk), yes=True, stdout=io.StringIO())

    assert "nickname" in lab.columns() and "extra" not in lab.columns()
    assert SchemaChange.objects.get(pk=second.pk).outcome == "rolled_back"
    assert f"also undid schema change(s) #{second.pk}" in (
        SchemaChange.objects.get(pk=first.pk).rollback_detail
    )


def test_a_refusal_points_to_the_report_the_ledger_entry_and_the_review_command(lab):
    lab.insert_rows()
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')

    with pytest.raises(CommandError) as refused:
        migrate("migration_lab")

    message = str(refused.value)
    change = SchemaChange.objects.latest("id")
    assert message.startswith("Refused: 1 high-risk operation(s) listed above; nothing applied.")
    assert "manage.py review_migration migration_lab 0002_drop" in message
    assert message.endswith(f"Recorded as schema change #{change.pk}.")


def test_schemachanges_lists_the_ledger_for_the_command_line(lab):
    lab.insert_rows()
    lab.migration("0002_drop", 'migrations.RemoveField("entry", "nickname"),')
    with pytest.raises(CommandError):
        migrate("migration_lab")
    migrate("migration_lab", allow_dangerous=True, reason="nicknames archived")
    applied = SchemaChange.objects.latest("id")

    out = io.StringIO()
    call_command("schemachanges", "--limit", "2", stdout=out)
    text = out.getvalue()
    document = io.StringIO()
    call_command("schemachanges", "--limit", "2", json=True, stdout=document)

    assert text.splitlines()[1].split()[0] == str(applied.pk)  # newest first
    assert applied.backup_name in text and "why: nicknames archived" in text
    assert "refused" in text
    listed = json.loads(document.getvalue())["schema_changes"]
    assert [c["outcome"] for c in listed] == ["applied", "refused"]


def test_nothing_pending_reads_no_data_and_applies_nothing(lab):
    lab.insert_rows()

    report, ok = migration_risk_json("migration_lab")

    assert ok
    assert (report["action"], report["migrations"], report["has_data"]) == ("nothing", [], None)


def test_rollback_parks_later_signups_the_older_schema_refuses(lab, signups):
    # Before the change the signup table refuses signups from Lagos; the change lifts that.
    # After the rollback a later signup from Lagos cannot go back into that table: it must be
    # kept somewhere durable, never dropped.
    if connection.vendor == "postgresql":
        refuse = "ALTER TABLE waitlist_responses ADD CONSTRAINT no_lagos CHECK (city <> 'Lagos')"
        lift = "ALTER TABLE waitlist_responses DROP CONSTRAINT no_lagos"
    else:
        refuse = (
            "CREATE TRIGGER no_lagos BEFORE INSERT ON waitlist_responses "
            "WHEN NEW.city = 'Lagos' BEGIN SELECT RAISE(ABORT, 'no Lagos'); END"
        )
        lift = "DROP TRIGGER no_lagos"
    with connection.cursor() as cursor:
        cursor.execute(refuse)
    parked = []
    try:
        lab.migration("0002_lift", f"migrations.RunSQL({lift!r}),")
        migrate("migration_lab", allow_dangerous=True, reason="test: lift the rule")
        change = SchemaChange.objects.latest("id")
        assert change.backup_name
        fits = SignupFactory(email="paris@example.com", city="Paris")
        refused = SignupFactory(email="lagos@example.com", city="Lagos")

        out = io.StringIO()
        call_command("rollback_schema_change", str(change.pk), yes=True, json=True, stdout=out)

        emails = set(Signup.objects.values_list("email", flat=True))
        assert emails == {s.email for s in signups} | {fits.email}
        parked = [t for t in connection.introspection.table_names() if "_left_behind_" in t]
        assert len(parked) == 1
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(parked[0])
            cursor.execute(f"SELECT email, city FROM {table}")  # noqa: S608
            assert cursor.fetchall() == [(refused.email, "Lagos")]
        result = json.loads(out.getvalue())
        assert result["signups_left_behind"] is True
        assert parked[0] in SchemaChange.objects.get(pk=change.pk).rollback_detail
    finally:
        with connection.cursor() as cursor:
            for table in parked:
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE waitlist_responses DROP CONSTRAINT IF EXISTS no_lagos")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS no_lagos")
