"""Measure what a corpus case really does to the data, the table and the previous release.

The change is applied with Django's own MigrationExecutor, not the guarded `migrate`, so the
measurement does not depend on the guard it is used to judge.
"""

import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from .base import BASE, OLD_INSERTS, entry_rows, team_rows
from .cases import Case, Truth

APP = "migration_lab"
TABLES = {"Entry": "lab_entry", "Team": "lab_team", "Archive": "lab_archive"}

HEADER = "from django.db import migrations, models\nfrom django.db.models import Q\n"

#: An index built while writes wait: CREATE INDEX without CONCURRENTLY.
BLOCKING_INDEX = re.compile(r"CREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)", re.IGNORECASE)
#: SQLite's rebuild of a table: copy into new__<table>, drop, rename. Read from the plan, so a
#: rebuild that fails halfway (and is rolled back) still counts.
SQLITE_REBUILD = re.compile(r'CREATE\s+TABLE\s+"new__', re.IGNORECASE)
#: A constraint validated under a write-blocking lock: added without NOT VALID, or SET NOT NULL.
VALIDATED_CONSTRAINT = re.compile(
    r"ADD\s+CONSTRAINT\s.*?(CHECK|FOREIGN\s+KEY|UNIQUE|REFERENCES)|SET\s+NOT\s+NULL|"
    r"ADD\s+COLUMN\s.*?REFERENCES",
    re.IGNORECASE | re.DOTALL,
)
NOT_VALID = re.compile(r"NOT\s+VALID", re.IGNORECASE)


@dataclass
class Measurement:
    truth: Truth
    migrate_error: str
    old_code_error: str
    sql: list[str]


def change_source(case: Case) -> str:
    """The text of the case's 0002 migration."""
    body = "\n".join("        " + line for line in case.operations.strip().splitlines())
    return (
        HEADER
        + case.functions
        + "\n\nclass Migration(migrations.Migration):\n"
        + f'    dependencies = [("{APP}", "0001_initial")]\n'
        + ("" if case.atomic else "    atomic = False\n")
        + f"\n    operations = [\n{body}\n    ]\n"
    )


def write_case(folder: Path, case: Case) -> None:
    """Write the case as a migrations package: __init__, 0001_initial and 0002_change."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text("")
    (folder / "0001_initial.py").write_text(BASE)
    (folder / "0002_change.py").write_text(change_source(case))


def forget(package: str) -> None:
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[module]


def seed(executor: MigrationExecutor) -> None:
    apps = executor.loader.project_state((APP, "0001_initial")).apps
    apps.get_model(APP, "Team").objects.bulk_create(
        apps.get_model(APP, "Team")(**row) for row in team_rows()
    )
    Entry = apps.get_model(APP, "Entry")
    Entry.objects.bulk_create((Entry(**row) for row in entry_rows()), batch_size=500)


def snapshot(table: str) -> dict[int, dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
        names = [c[0] for c in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def storage_id(table: str):
    """What changes when the table is rebuilt: relfilenode on PostgreSQL, rootpage on SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relfilenode FROM pg_class WHERE oid = to_regclass(%s)", [table])
        else:
            cursor.execute(
                "SELECT rootpage FROM sqlite_master WHERE type='table' AND name=%s", [table]
            )
        row = cursor.fetchone()
    return row[0] if row else None


def values_lost(case: Case, table: str, before: dict[int, dict]) -> bool:
    """Whether a row, or a non-NULL value, of the snapshot is missing or different now."""
    new_table = case.renamed_tables.get(table, table)
    if new_table not in connection.introspection.table_names():
        return bool(before)
    after = snapshot(new_table)
    for pk, row in before.items():
        if pk not in after:
            return True
        for column, value in row.items():
            if value is None:
                continue
            column = case.renamed_columns.get(f"{table}.{column}", column)
            if column not in after[pk] or str(after[pk][column]) != str(value):
                return True
    return False


def old_code_error(executor: MigrationExecutor, model_name: str) -> str:
    """Run the previous release's read and insert; return the error, or "" if both work."""
    OldModel = executor.loader.project_state((APP, "0001_initial")).apps.get_model(APP, model_name)
    row = {
        f.attname: None if f.null else OLD_INSERTS[model_name][f.attname]
        for f in OldModel._meta.concrete_fields
        if not f.primary_key
    }
    try:
        with transaction.atomic():
            list(OldModel.objects.all()[:5])
        with transaction.atomic():
            OldModel.objects.create(**row)
    except DatabaseError as error:
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return ""


def prepare(case: Case, root: Path) -> MigrationExecutor:
    """Write the case's migrations, apply 0001_initial and seed it: the moment before the change.

    The lab app must be installed with MIGRATION_MODULES pointing at a package under `root`
    (see test_corpus_truth's fixture); drop_lab_tables() undoes it.
    """
    package = settings.MIGRATION_MODULES[APP]
    write_case(root / package, case)
    forget(package)
    executor = MigrationExecutor(connection)
    executor.migrate([(APP, "0001_initial")])
    seed(executor)
    return executor


def measure(case: Case, root: Path) -> Measurement:
    """Build the base with rows, apply the case's change, and measure what happened."""
    executor = prepare(case, root)
    tables = list(TABLES.values())
    before = {table: snapshot(table) for table in tables}
    storage = {table: storage_id(table) for table in tables}

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan([(APP, "0002_change")])
    sql = executor.loader.collect_sql(plan)
    migrate_error = ""
    try:
        executor.migrate([(APP, "0002_change")])
    except Exception as error:  # any failure of migrate is what is measured
        migrate_error = f"{type(error).__name__}: {error}".splitlines()[0]
        connection.close()  # a failed non-atomic migration may leave the connection unusable

    data_lost = bool(migrate_error) or any(values_lost(case, t, before[t]) for t in tables)
    rewritten = any(
        before[t]
        and storage[t] is not None
        and storage_id(case.renamed_tables.get(t, t)) not in (None, storage[t])
        for t in tables
    )
    broken = old_code_error(executor, case.model)
    target_rows = bool(before[TABLES[case.model]])
    blocking = target_rows and any(blocks_writes(statement) for statement in sql)
    # A change that fails on the live rows fails the deploy too, after holding its lock for the
    # scan that found the bad row; and a rolled-back rewrite leaves no relfilenode to compare.
    unsafe = rewritten or bool(broken) or blocking or bool(migrate_error and target_rows)
    truth = Truth(data_lost, rewritten, bool(broken), unsafe)
    return Measurement(truth, migrate_error, broken, sql)


def blocks_writes(statement: str) -> bool:
    """Whether one emitted statement builds an index or validates a constraint while writes
    wait, or rebuilds an SQLite table. Django's own "-- comment" lines are not statements."""
    if statement.lstrip().startswith("--"):
        return False
    if BLOCKING_INDEX.search(statement) or SQLITE_REBUILD.search(statement):
        return True
    return bool(VALIDATED_CONSTRAINT.search(statement)) and not NOT_VALID.search(statement)


def drop_lab_tables() -> None:
    """Remove every lab table and the lab's migration records, whatever the case left behind."""
    connection.close()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table.startswith(("lab_", f"{APP}_")):
                cascade = " CASCADE" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}{cascade}")
    MigrationRecorder(connection).migration_qs.filter(app=APP).delete()


def new_package() -> str:
    return f"labcorpus_{uuid.uuid4().hex[:10]}"
