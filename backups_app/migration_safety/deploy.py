"""The `deploy` verdict (§7.1): what an operation does to the site while it runs and right after.

The data level says what a migration can lose; this axis says whether signups stall behind a
lock, a table is rewritten, or the release still serving requests during the deploy breaks.
It reads the operation, the schema states around it, the vendor and the live row counts the
guard already has (DataProbe caches them: nothing is counted twice).
"""

import enum
import math
import re
from dataclasses import dataclass

from django.db import DatabaseError, models, transaction
from django.db.migrations import operations as ops
from django.db.models.sql import Query

from backups_app.migration_safety import sql
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.readers import Readers


class Deploy(enum.IntEnum):
    SAFE = 0
    CAUTION = 1  # a lock or a rebuild worth knowing about, nothing breaks
    UNSAFE = 2  # writes blocked on a table with rows, or the running release breaks

    @property
    def label(self) -> str:
        return self.name.lower()


# Rows a table operation gets through per second, per vendor, measured once on the development
# machine (2026-12-05, PostgreSQL on 127.0.0.1, SQLite on local disk) with a 100,000-row table
# (id, varchar name, integer score): PostgreSQL rewrote it (ALTER COLUMN score TYPE bigint) in
# 0.062 s (1.6 M rows/s) and built an index on name in 0.074 s (1.35 M rows/s); SET NOT NULL
# scanned it in 0.004 s. SQLite remade it (create, copy, drop, rename) in 0.037 s (2.7 M rows/s).
# The slower PostgreSQL figure stands for every scan, rewrite and index build: an estimate that
# errs long. Real tables are wider and busier; the figure says seconds or hours, not more.
ROWS_PER_SECOND = {"postgresql": 1_350_000, "sqlite": 2_700_000}
DEFAULT_ROWS_PER_SECOND = 1_000_000
#: SQLite has one writer: a remake shorter than this stalls writers no longer than a busy commit.
SQLITE_BUDGET_SECONDS = 1.0

RECIPES = {
    "index": (
        "Build it with AddIndexConcurrently (django.contrib.postgres.operations) in a migration "
        "of its own with atomic = False; for a field, add it with db_index=False first."
    ),
    "unique": (
        "In a migration with atomic = False: SeparateDatabaseAndState whose database side runs "
        "CREATE UNIQUE INDEX CONCURRENTLY and then ALTER TABLE … ADD CONSTRAINT … UNIQUE USING "
        "INDEX, and whose state side is the AddConstraint (or the unique field)."
    ),
    "check": (
        "AddConstraintNotValid (django.contrib.postgres.operations) in one migration, "
        "ValidateConstraint in the next: validating takes a lock that lets writes through."
    ),
    "foreign_key": (
        "SeparateDatabaseAndState: state side the AddField; database side adds the column "
        "without the constraint, then RunSQL ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY … NOT "
        "VALID; a later migration runs ALTER TABLE … VALIDATE CONSTRAINT."
    ),
    "not_null": (
        "Backfill the NULLs in batches (atomic = False), add a CHECK (column IS NOT NULL) with "
        "AddConstraintNotValid, ValidateConstraint in the next migration, then AlterField "
        "null=False (PostgreSQL skips the scan) and remove the CHECK."
    ),
    "type": (
        "Expand/contract: add a new column, write both, backfill in batches, switch reads, drop "
        "the old column in a later release."
    ),
    "drop": (
        "Expand/contract in two releases: first remove it from the code and the state only "
        "(SeparateDatabaseAndState with state_operations=[…], database_operations=[]; make a "
        "NOT NULL column nullable or give it a db_default first), drop it in the next release."
    ),
    "rename": (
        "Keep the database name (db_column= / Meta.db_table= the old name) so no SQL runs, or "
        "expand/contract over two releases: add the new name, write both, then drop the old."
    ),
    "db_default": (
        "Give it a db_default (Django ≥ 5.0) so the database fills it for the release still "
        "inserting rows without it, or add it nullable."
    ),
    "volatile": (
        "Add the column nullable, set the default separately, backfill in batches, then follow "
        "the NOT NULL recipe."
    ),
    "remove_index": "Use RemoveIndexConcurrently in a migration with atomic = False.",
    "concurrently": "Set atomic = False on the migration and keep the operation on its own.",
    "held": (
        "Move the data migration into a migration of its own with atomic = False, batched by "
        "primary key range, so no schema lock is held while it runs."
    ),
}

# Functions whose value changes per row: a column default calling one rewrites the table.
VOLATILE_FUNCTIONS = {
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "setseed",
}
# Functions known not to be volatile (evaluated once for ADD COLUMN on PostgreSQL ≥ 11).
STABLE_FUNCTIONS = {
    "now",
    "statement_timestamp",
    "transaction_timestamp",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "lower",
    "upper",
    "coalesce",
    "concat",
}


@dataclass
class DeployVerdict:
    deploy: Deploy
    reason: str
    recipe: str = ""
    lock_seconds: float | None = None


def lock_seconds(vendor: str, rows: int | None) -> float | None:
    """The estimated time a scan, rewrite or index build of `rows` rows holds its lock."""
    if rows is None:
        return None
    rate = ROWS_PER_SECOND.get(vendor, DEFAULT_ROWS_PER_SECOND)
    return round(rows / rate, 3)


def duration_text(seconds: float | None, rows: int | None) -> str:
    if seconds is None or rows is None:
        return "for an uncounted number of rows"
    if seconds < 0.1:
        return f"under 0.1 s for {rows} rows"
    return f"about {math.ceil(seconds * 10) / 10:g} s for {rows} rows"


#: assess()'s dispatch: the reader of each operation whose locks the guard knows, by the operation
#: the database sees; each reader below enters itself with @_READERS.of(...).
_READERS = Readers()


def assess(operation, ctx) -> DeployVerdict:
    """The deploy verdict for `operation` in classify's context `ctx` (its kind as the database
    sees it, the states before and after, the probe and its connection, and the SQL the data
    verdict already collected for the operation: `ctx.emitted`, never collected twice)."""
    name = type(operation).__name__
    if name in ("AddIndexConcurrently", "RemoveIndexConcurrently"):
        if ctx.atomic:
            return DeployVerdict(
                Deploy.UNSAFE,
                f"{name} cannot run inside a transaction: the migration fails",
                RECIPES["concurrently"],
            )
        return DeployVerdict(Deploy.SAFE, f"{name} lets reads and writes through")
    if name in ("AddConstraintNotValid", "ValidateConstraint"):
        return DeployVerdict(
            Deploy.SAFE, f"{name}: existing rows are not checked under a write-blocking lock"
        )
    reader = _READERS.get(ctx.kind)
    if reader is None:
        return DeployVerdict(
            Deploy.CAUTION,
            f"{ctx.kind}: the guard cannot tell which locks it takes",
        )
    return reader(operation, ctx)


def flag_locks_held_through_data_migrations(findings: list[tuple], probe) -> None:
    """In an atomic migration, the locks a schema operation takes are held until COMMIT: a
    RunPython or RunSQL that follows one on a table with rows runs with that table locked.
    `findings` are the plan's (migration, operation, Finding), in order."""
    locked: dict[object, list[str]] = {}
    for migration, _, finding in findings:
        if not migration.atomic:
            continue
        held = locked.setdefault(migration, [])
        # RunPython, or RunSQL that changes rows (the data axis rates those medium or higher).
        writes = finding.kind == "RunPython" or (
            finding.kind == "RunSQL" and finding.level >= Level.MEDIUM
        )
        if writes:
            if held and finding.deploy == Deploy.SAFE:
                finding.deploy = Deploy.CAUTION
                finding.deploy_reason = (
                    f"runs while the earlier operations of this atomic migration hold their "
                    f"locks on {', '.join(dict.fromkeys(held))} until it commits"
                )
                finding.deploy_recipe = RECIPES["held"]
        elif finding.kind != "RunSQL" and finding.table and probe.rows(finding.table) != 0:
            held.append(finding.table)


# --- locks ----------------------------------------------------------------------------------


def _locked(ctx, table: str, rows: int | None, what: str, recipe: str) -> DeployVerdict:
    """A scan, rewrite or index build of `table` that blocks writes while it runs."""
    vendor = ctx.probe.connection.vendor
    if rows == 0:
        return DeployVerdict(Deploy.SAFE, f"{what} on an empty table", lock_seconds=0.0)
    if vendor == "sqlite":
        return sqlite_rebuild(what, rows)
    seconds = lock_seconds(vendor, rows)
    duration = duration_text(seconds, rows)
    return DeployVerdict(
        Deploy.UNSAFE,
        f"{what} on {table}: blocks writes while it runs ({duration})",
        recipe,
        seconds,
    )


def sqlite_rebuild(what: str, rows: int | None) -> DeployVerdict:
    """A table rebuild or index build on SQLite: no lock to avoid (one writer for the whole
    database), so only its length matters."""
    seconds = lock_seconds("sqlite", rows)
    duration = duration_text(seconds, rows)
    long = seconds is None or seconds >= SQLITE_BUDGET_SECONDS
    return DeployVerdict(
        Deploy.CAUTION if long else Deploy.SAFE,
        f"{what}: SQLite has one writer, so writes wait while it runs ({duration}); there is "
        "no concurrent alternative",
        "Run it when few signups arrive." if long else "",
        seconds,
    )


def _sqlite_remake(operation, ctx, table: str, rows: int | None) -> DeployVerdict | None:
    """On SQLite most ALTERs rebuild the table (create new__…, copy, drop, rename)."""
    emitted = ctx.emitted
    if emitted is not None and not any("new__" in s for s in emitted):
        if not any(s.lstrip().upper().startswith("CREATE") and "INDEX" in s for s in emitted):
            return None
        return sqlite_rebuild("builds an index", rows)
    if rows == 0:
        return DeployVerdict(Deploy.SAFE, "rebuilds an empty table", lock_seconds=0.0)
    return sqlite_rebuild(f"rebuilds table {table}", rows)


def _old_code(what: str, recipe: str) -> DeployVerdict:
    return DeployVerdict(
        Deploy.UNSAFE,
        f"{what}: the code still serving requests during the deploy reads it and fails",
        recipe,
    )


def _worst(*verdicts: DeployVerdict | None) -> DeployVerdict:
    found = [v for v in verdicts if v is not None]
    if not found:
        return DeployVerdict(Deploy.SAFE, "changes the catalog only")
    worst = max(v.deploy for v in found)
    chosen = [v for v in found if v.deploy == worst]
    seconds = [v.lock_seconds for v in found if v.lock_seconds is not None]
    return DeployVerdict(
        worst,
        "; ".join(v.reason for v in chosen),
        " ".join(dict.fromkeys(v.recipe for v in chosen if v.recipe)),
        max(seconds) if seconds else None,
    )


# --- readers, by the operation the database sees ---------------------------------------------


@_READERS.of("CreateModel")
def _create_model(operation, ctx) -> DeployVerdict:
    return DeployVerdict(Deploy.SAFE, "creates a new, empty table")


@_READERS.of("RemoveConstraint")
def _remove_constraint(operation, ctx) -> DeployVerdict:
    return DeployVerdict(Deploy.SAFE, "removes a constraint (catalog only)")


@_READERS.of(
    "AlterOrderWithRespectTo",
    "AlterConstraint",
    "AlterModelOptions",
    "AlterModelManagers",
    "AlterModelTableComment",
)
def _options(operation, ctx) -> DeployVerdict:
    return DeployVerdict(Deploy.SAFE, "changes Django's model options only")


@_READERS.of("RunPython")
def _run_python(operation, ctx) -> DeployVerdict:
    return DeployVerdict(
        Deploy.SAFE, "runs Python: its data risk is rated, its locks are the queries it runs"
    )


@_READERS.of("DeleteModel")
def _delete_model(operation, ctx) -> DeployVerdict:
    model = ctx.model(ctx.before, operation.name)
    if model is None or not ctx.touches(model) or ctx.probe.is_new(model._meta.db_table):
        return DeployVerdict(Deploy.SAFE, "drops no table the running release uses")
    return _old_code(f"drops table {model._meta.db_table}", RECIPES["drop"])


@_READERS.of("RemoveField")
def _remove_field(operation, ctx) -> DeployVerdict:
    model, field = ctx.field(ctx.before, operation.model_name, operation.name)
    if field is None or not ctx.touches(model) or ctx.probe.is_new(model._meta.db_table):
        return DeployVerdict(Deploy.SAFE, "drops no column the running release uses")
    if field.many_to_many:
        table = field.remote_field.through._meta.db_table
        return _old_code(f"drops link table {table}", RECIPES["drop"])
    return _old_code(
        f"drops column {model._meta.db_table}.{field.column} (Django names every column in "
        "its SELECTs)",
        RECIPES["drop"],
    )


@_READERS.of("RenameField", "RenameModel", "AlterModelTable")
def _rename(operation, ctx) -> DeployVerdict:
    emitted = ctx.emitted
    if emitted == []:
        return DeployVerdict(Deploy.SAFE, "keeps every name the database sees: no SQL runs")
    if isinstance(operation, ops.RenameField):
        what = f"renames column {operation.old_name} -> {operation.new_name}"
    elif isinstance(operation, ops.RenameModel):
        what = f"renames the table of {operation.old_name} -> {operation.new_name}"
    else:
        what = f"moves the model to table {operation.table}"
    return _old_code(what, RECIPES["rename"])


@_READERS.of("AddField")
def _add_field(operation, ctx) -> DeployVerdict:
    model, field = ctx.field(ctx.after, operation.model_name, operation.name)
    if field is None:
        return DeployVerdict(Deploy.CAUTION, "the guard cannot find the field in the state")
    if field.many_to_many or not ctx.touches(model):
        return DeployVerdict(Deploy.SAFE, "creates a new link table or touches no table")
    table, rows = ctx.table_rows(model)
    if ctx.probe.is_new(table):
        return DeployVerdict(Deploy.SAFE, "adds a column to a table this plan creates")
    vendor = ctx.probe.connection.vendor
    found = []
    if not field.null and not field.has_db_default() and not field.primary_key:
        found.append(
            DeployVerdict(
                Deploy.UNSAFE,
                f"adds NOT NULL column {field.column} without a db_default: the release still "
                "serving requests inserts rows without it and fails (Django drops a Python "
                "default from the database after filling the existing rows)",
                RECIPES["db_default"],
            )
        )
    if vendor == "sqlite":
        found.append(_sqlite_remake(operation, ctx, table, rows))
        return _worst(*found)
    found.append(_volatile_default(ctx, field, table, rows))
    if field.unique and not field.primary_key:
        found.append(_locked(ctx, table, rows, "builds a unique index", RECIPES["unique"]))
    elif field.db_index:
        found.append(_locked(ctx, table, rows, "builds an index", RECIPES["index"]))
    if field.is_relation and getattr(field, "db_constraint", False) and rows != 0:
        found.append(
            DeployVerdict(
                Deploy.UNSAFE,
                f"adds a FOREIGN KEY without NOT VALID: every row of {table} is checked while "
                f"writes to it and to the table it points at wait "
                f"({duration_text(lock_seconds(vendor, rows), rows)})",
                RECIPES["foreign_key"],
                lock_seconds(vendor, rows),
            )
        )
    return _worst(*found)


def _volatile_default(ctx, field, table: str, rows: int | None) -> DeployVerdict | None:
    """PostgreSQL ≥ 11 stores a non-volatile default once; a volatile one (or a stored
    generated column) rewrites every row under ACCESS EXCLUSIVE."""
    if isinstance(field, models.GeneratedField) and field.db_persist:
        return _locked(
            ctx, table, rows, "computes a stored generated column (a rewrite)", RECIPES["volatile"]
        )
    if not field.has_db_default() or not hasattr(field.db_default, "as_sql"):
        return None
    if isinstance(field.db_default, models.Value):
        return None
    if getattr(ctx.probe.connection, "pg_version", 110000) < 110000:
        what = "adds a column with a default, which PostgreSQL < 11 writes into every row"
        return _locked(ctx, table, rows, what, RECIPES["volatile"])
    try:
        text, _ = _compiled(field, ctx)
    except Exception:  # an expression the guard cannot compile: it cannot tell
        return DeployVerdict(
            Deploy.CAUTION,
            "adds a column whose default the guard cannot read: if volatile, the table is "
            "rewritten",
            RECIPES["volatile"],
        )
    functions = {f.lower() for f in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)}
    if functions & VOLATILE_FUNCTIONS:
        what = "adds a column with a volatile default (a rewrite)"
        return _locked(ctx, table, rows, what, RECIPES["volatile"])
    if functions - STABLE_FUNCTIONS:
        return DeployVerdict(
            Deploy.CAUTION,
            f"adds a column whose default calls {', '.join(sorted(functions - STABLE_FUNCTIONS))}:"
            " if volatile, the table is rewritten",
            RECIPES["volatile"],
        )
    return None


def _compiled(field, ctx) -> tuple[str, list]:
    """The SQL of a db_default expression, as the schema editor writes it."""
    query = Query(model=field.model, alias_cols=False)
    compiler = query.get_compiler(connection=ctx.probe.connection)
    return field.db_default.resolve_expression(query).as_sql(compiler, ctx.probe.connection)


@_READERS.of("AlterField")
def _alter_field(operation, ctx) -> DeployVerdict:
    model, old = ctx.field(ctx.before, operation.model_name, operation.name)
    _, new = ctx.field(ctx.after, operation.model_name, operation.name)
    if old is None or new is None:
        return DeployVerdict(Deploy.CAUTION, "the guard cannot find the field in the state")
    if old.many_to_many or new.many_to_many or not ctx.touches(model):
        return DeployVerdict(Deploy.SAFE, "alters no table of its own")
    table, rows = ctx.table_rows(model)
    if ctx.probe.is_new(table):
        return DeployVerdict(Deploy.SAFE, "alters a table this plan creates")
    found = []
    if old.column != new.column:
        found.append(_old_code(f"renames column {old.column} -> {new.column}", RECIPES["rename"]))
    if ctx.probe.connection.vendor == "sqlite":
        found.append(_sqlite_remake(operation, ctx, table, rows))
        return _worst(*found)
    connection = ctx.probe.connection
    old_type, new_type = old.db_type(connection), new.db_type(connection)
    if old_type != new_type and not _binary_coercible(old_type, new_type):
        found.append(
            _locked(
                ctx,
                table,
                rows,
                f"rewrites {old_type} -> {new_type} under ACCESS EXCLUSIVE",
                RECIPES["type"],
            )
        )
    if old.null and not new.null and _validated_not_null_check(ctx, table, old.column):
        found.append(
            DeployVerdict(
                Deploy.SAFE,
                f"SET NOT NULL on {old.column}: a validated CHECK ({old.column} IS NOT NULL) "
                "lets PostgreSQL skip the scan",
            )
        )
    elif old.null and not new.null:
        found.append(
            _locked(
                ctx,
                table,
                rows,
                f"SET NOT NULL on {old.column} scans every row under ACCESS EXCLUSIVE",
                RECIPES["not_null"],
            )
        )
    if new.unique and not old.unique and not new.primary_key:
        found.append(_locked(ctx, table, rows, "builds a unique index", RECIPES["unique"]))
    elif new.db_index and not old.db_index and not new.unique:
        found.append(_locked(ctx, table, rows, "builds an index", RECIPES["index"]))
    return _worst(*found)


def _validated_not_null_check(ctx, table: str, column: str) -> bool:
    """Whether the live table has a validated CHECK (column IS NOT NULL), with which
    PostgreSQL ≥ 12 makes SET NOT NULL a catalog change (no scan). Read in a savepoint."""
    connection = ctx.probe.connection
    live = ctx.probe.live_table(table)
    if connection.vendor != "postgresql" or connection.pg_version < 120000 or live is None:
        return False
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'c' AND convalidated",
                [connection.ops.quote_name(live)],
            )
            definitions = [row[0] for row in cursor.fetchall()]
    except DatabaseError:
        return False
    wanted = re.compile(rf'CHECK \(+"?{re.escape(column)}"? IS NOT NULL\)+', re.I)
    return any(wanted.fullmatch(definition.strip()) for definition in definitions)


def _binary_coercible(old_type: str | None, new_type: str | None) -> bool:
    """varchar(n) -> varchar(m ≥ n), varchar -> text: PostgreSQL changes the catalog only."""
    old_type, new_type = (old_type or "").lower(), (new_type or "").lower()
    old_length = re.fullmatch(r"varchar\((\d+)\)", old_type)
    if new_type == "text" and (old_length or old_type == "text"):
        return True
    new_length = re.fullmatch(r"varchar\((\d+)\)", new_type)
    return bool(old_length and new_length and int(new_length[1]) >= int(old_length[1]))


@_READERS.of("AddConstraint")
def _add_constraint(operation, ctx) -> DeployVerdict:
    model = ctx.model(ctx.before, operation.model_name)
    constraint = getattr(operation, "constraint", None)
    if ctx.backwards:
        target = ctx.model(ctx.after, operation.model_name)
        constraint = next(
            (c for c in (target._meta.constraints if target else []) if c.name == operation.name),
            None,
        )
    if model is None or constraint is None:
        return DeployVerdict(Deploy.CAUTION, "the guard cannot find the constraint")
    table, rows = ctx.table_rows(model)
    if ctx.probe.connection.vendor == "sqlite":
        return _sqlite_remake(operation, ctx, table, rows) or _worst()
    if isinstance(constraint, models.CheckConstraint):
        return _locked(
            ctx,
            table,
            rows,
            f"adds CHECK {constraint.name} without NOT VALID: "
            "checks every row under ACCESS EXCLUSIVE",
            RECIPES["check"],
        )
    if isinstance(constraint, models.UniqueConstraint):
        return _locked(
            ctx, table, rows, f"adds UNIQUE {constraint.name}: builds its index", RECIPES["unique"]
        )
    return _locked(ctx, table, rows, f"adds {constraint.name}: builds its index", RECIPES["index"])


@_READERS.of("AlterUniqueTogether")
def _alter_together(operation, ctx) -> DeployVerdict:
    model, target = ctx.models(operation.name)
    if model is None or target is None:
        return DeployVerdict(Deploy.CAUTION, "the guard cannot find the model")
    table, rows = ctx.table_rows(model)
    if ctx.probe.connection.vendor == "sqlite":
        return _sqlite_remake(operation, ctx, table, rows) or _worst()
    old = {tuple(s) for s in model._meta.unique_together}
    new = {tuple(s) for s in target._meta.unique_together}
    if new - old:
        return _locked(ctx, table, rows, "builds a unique index", RECIPES["unique"])
    return _worst()


@_READERS.of("AddIndex", "RemoveIndex", "RenameIndex", "AlterIndexTogether")
def _index(operation, ctx) -> DeployVerdict:
    name = getattr(operation, "model_name", None) or getattr(operation, "name", "")
    model = ctx.model(ctx.before, name) or ctx.model(ctx.after, name)
    if model is None or not ctx.touches(model):
        return DeployVerdict(Deploy.SAFE, "touches no table")
    table, rows = ctx.table_rows(model)
    if ctx.probe.is_new(table):
        return DeployVerdict(Deploy.SAFE, "indexes a table this plan creates")
    if ctx.kind == "AddIndex" or ctx.kind == "AlterIndexTogether":
        if ctx.probe.connection.vendor == "sqlite":
            return sqlite_rebuild("builds an index", rows)
        return _locked(ctx, table, rows, "builds an index without CONCURRENTLY", RECIPES["index"])
    if ctx.kind == "RemoveIndex" and ctx.probe.connection.vendor == "postgresql" and rows:
        return DeployVerdict(
            Deploy.CAUTION,
            f"drops an index of {table} under ACCESS EXCLUSIVE: brief, but every query on the "
            "table queues behind it",
            RECIPES["remove_index"],
        )
    return DeployVerdict(Deploy.SAFE, "changes an index name or an index of an empty table")


_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)", re.I)
_ADD_CONSTRAINT = re.compile(
    r"\bADD\s+(CONSTRAINT\s+\S+\s+)?(CHECK|FOREIGN\s+KEY|UNIQUE|PRIMARY\s+KEY)\b", re.I
)
# What each RunSQL effect that breaks the running release is called in a reason.
_BREAKS = {"drop_table": "drops a table", "drop_column": "drops a column", "rename": "renames"}
_NOT_VALID = re.compile(r"\bNOT\s+VALID\b", re.I)
_SET_NOT_NULL = re.compile(r"\bALTER\s+(COLUMN\s+)?\S+\s+SET\s+NOT\s+NULL\b", re.I)
_INDEX_TABLE = re.compile(r"\bON\s+(?:ONLY\s+)?\"?([\w.]+)\"?", re.I)


@_READERS.of("RunSQL")
def _run_sql(operation, ctx) -> DeployVerdict:
    source = operation.reverse_sql if ctx.backwards else operation.sql
    vendor = ctx.probe.connection.vendor
    found = []
    for statement in sql.statements_of(source):
        text = statement.text
        tables = statement.tables
        if not tables and _CREATE_INDEX.match(text) and (match := _INDEX_TABLE.search(text)):
            tables = [match[1].split(".")[-1]]
        rows = _table_rows(ctx, tables)
        table = ", ".join(tables) or "its table"
        if statement.effect == "truncate" and rows != 0:
            found.append(
                DeployVerdict(
                    Deploy.UNSAFE,
                    f"TRUNCATE {table} takes ACCESS EXCLUSIVE and empties it: the code still "
                    "serving requests during the deploy finds its rows gone",
                    "Delete the rows in batches (DELETE … WHERE id BETWEEN …) in a migration "
                    "with atomic = False, after the code no longer reads them.",
                )
            )
        elif statement.effect == "add_not_null" and not all(map(ctx.probe.is_new, tables)):
            found.append(
                DeployVerdict(
                    Deploy.UNSAFE,
                    f"adds a NOT NULL column without a DEFAULT to {table}: the migration fails "
                    "on its rows, and the release still serving requests inserts rows without "
                    "it and fails",
                    RECIPES["db_default"],
                )
            )
        elif statement.effect in ("drop_table", "drop_column", "rename"):
            recipe = RECIPES["drop" if "drop" in statement.effect else "rename"]
            found.append(_old_code(f"{_BREAKS[statement.effect]} ({text[:80]})", recipe))
        elif _CREATE_INDEX.match(text):
            if vendor == "sqlite":
                found.append(sqlite_rebuild("builds an index", rows))
            else:
                found.append(
                    _locked(ctx, table, rows, "CREATE INDEX without CONCURRENTLY", RECIPES["index"])
                )
        elif (added := _ADD_CONSTRAINT.search(text)) and not _NOT_VALID.search(text):
            kind = " ".join(added[2].upper().split())
            if kind in ("UNIQUE", "PRIMARY KEY"):
                what, recipe = f"adds a {kind} constraint: builds its index", RECIPES["unique"]
            else:
                what = f"adds a {kind} constraint without NOT VALID: checks every row"
                recipe = RECIPES["foreign_key" if kind == "FOREIGN KEY" else "check"]
            found.append(_locked(ctx, table, rows, what, recipe))
        elif _SET_NOT_NULL.search(text):
            found.append(
                _locked(ctx, table, rows, "SET NOT NULL scans every row", RECIPES["not_null"])
            )
        elif statement.effect in ("alter_type", "rewrite"):
            found.append(
                _locked(ctx, table, rows, "changes a column type (a rewrite)", RECIPES["type"])
            )
    if not found:
        return DeployVerdict(Deploy.SAFE, "no statement the guard knows to block writes")
    return _worst(*found)


def _table_rows(ctx, tables: list[str]) -> int | None:
    if not tables:
        return None
    counts = [ctx.probe.rows(table) for table in tables]
    return None if None in counts else sum(counts)
