"""The §7 classification of one migration operation against the live data."""

import functools
import re
from dataclasses import dataclass, replace

from django.core.exceptions import FieldDoesNotExist
from django.db import models, router
from django.db.migrations import operations as ops
from django.db.migrations.state import ProjectState

from backups_app.migration_safety import python_code, sql
from backups_app.migration_safety.data import DataProbe
from backups_app.migration_safety.deploy import Deploy, DeployVerdict, assess
from backups_app.migration_safety.emitted import emitted_in
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.readers import Readers

# Columns whose empty string holds nothing worth keeping.
TEXT_FIELDS = {"CharField", "TextField", "EmailField", "SlugField", "URLField"}

# Undoing an operation does the opposite one to the database.
REVERSED = {
    "CreateModel": "DeleteModel",
    "DeleteModel": "CreateModel",
    "AddField": "RemoveField",
    "RemoveField": "AddField",
    "AddConstraint": "RemoveConstraint",
    "RemoveConstraint": "AddConstraint",
    "AddIndex": "RemoveIndex",
    "RemoveIndex": "AddIndex",
    "AddIndexConcurrently": "RemoveIndexConcurrently",
    "RemoveIndexConcurrently": "AddIndexConcurrently",
}

SAFE = {
    "drop": (
        "Keep the data: stop using it first and remove it in a later release; rename with "
        "RenameField/RenameModel instead; copy what must survive in a RunPython before removing."
    ),
    "recreate": (
        "Change the table in place (AlterField, RenameField, RenameModel): never drop and "
        "recreate a table that holds rows."
    ),
    "rename_pair": (
        "Use RenameField (makemigrations asks 'Did you rename …?'), or copy the values into the "
        "new field in a RunPython before removing the old one."
    ),
    "shrink": (
        "Shorten or move the longer values in a RunPython first, or keep the longer max_length."
    ),
    "not_null": "Fill the NULLs (RunPython or a default) before making the column NOT NULL.",
    "violated": "Fix or remove the rows that break it first (RunPython), then add it.",
    "type": (
        "Add a new column, copy and check the values, switch the code to it, then drop the old "
        "one in a later release."
    ),
    "rename": "Deploy code that reads both names first; the pre-migration backup covers the rest.",
    "constraint": "Only remove a constraint the code no longer relies on.",
    "primary_key": (
        "Keep the existing key; add a unique field instead, or build a new table and copy the "
        "rows into it in a reviewed data migration."
    ),
    "sql": (
        "Rewrite it as schema operations Django can reverse, or give every DELETE/UPDATE a WHERE "
        "and copy what a DROP or TRUNCATE would destroy first."
    ),
    "python": (
        "Try it on a restored copy first, give it a reverse_code, and record the review with "
        "`manage.py review_migration APP MIGRATION --reason …`."
    ),
}


@dataclass(kw_only=True)
class Risk:
    """What one operation risks: its data level (§7) and its deploy verdict (§7.1). A Finding
    and the report's line for it (report.OperationRisk) both carry it."""

    kind: str  # the operation as the database sees it (undoing AddField is a RemoveField)
    level: Level
    reason: str
    table: str = ""
    column: str = ""
    rows: int | None = None
    safe_alternative: str = ""
    #: The second axis (§7.1): safe, caution or unsafe while the deploy runs and right after.
    deploy: Deploy = Deploy.SAFE
    deploy_reason: str = ""
    deploy_recipe: str = ""
    lock_seconds: float | None = None  # estimated from the live rows; None when not estimated


@dataclass(kw_only=True)
class Finding(Risk):
    """What one operation does to the data, and what plan.py needs to pair it with others."""

    model: str = ""  # "app_label.modelname", to pair removals with additions
    field: str = ""
    #: The field removed or added (RemoveField, AddField), to tell a plausible rename.
    definition: models.Field | None = None


#: classify()'s dispatch: the reader of each operation Django defines, by the operation the
#: database sees; each reader below enters itself with @_READERS.of(...).
_READERS = Readers()


def classify(
    operation,
    *,
    app_label: str,
    before: ProjectState,
    after: ProjectState,
    backwards: bool,
    probe: DataProbe,
    atomic: bool = True,
) -> list[Finding]:
    """Classify `operation` taking the database from state `before` to state `after`, in a
    migration that runs in a transaction (`atomic`) or not.

    When undoing a migration, `before` is the state with the operation applied and `after`
    the one without it. SeparateDatabaseAndState gives one finding per database operation.
    """
    return _classify(operation, _Context(app_label, before, after, backwards, probe, atomic=atomic))


def _classify(operation, ctx: "_Context") -> list[Finding]:
    """classify() in `ctx`, whose states are those around `operation`."""
    if isinstance(operation, ops.SeparateDatabaseAndState):
        return _separate(operation, ctx)
    kind = _django_kind(operation)
    if ctx.backwards:
        kind = REVERSED.get(kind, kind)
    reader = _READERS.get(kind, _unknown)
    context = replace(ctx, kind=kind or type(operation).__name__, operation=operation)
    finding = reader(operation, context)
    try:
        verdict = assess(operation, context)
    except Exception as err:  # the deploy axis is advisory: it never stops the data verdict
        verdict = DeployVerdict(Deploy.CAUTION, f"the guard could not assess its locks ({err})")
    finding.deploy, finding.deploy_reason = verdict.deploy, verdict.reason
    finding.deploy_recipe, finding.lock_seconds = verdict.recipe, verdict.lock_seconds
    return [finding]


def _django_kind(operation) -> str:
    """The Django operation this is, or a subclass of (a project's AddField subclass that
    runs no SQL of its own is an AddField); "" for an operation Django does not define, which
    the guard cannot read."""
    for klass in type(operation).__mro__:
        if klass.__module__.startswith("django.") and klass.__name__ in _READERS:
            # A subclass that runs its own SQL is not the operation it extends.
            same = all(
                getattr(type(operation), method) is getattr(klass, method)
                for method in ("database_forwards", "database_backwards")
            )
            return klass.__name__ if same else ""
    return ""


@dataclass
class _Context:
    app_label: str
    before: ProjectState
    after: ProjectState
    backwards: bool
    probe: DataProbe
    atomic: bool = True
    #: The operation read, and what it is as the database sees it.
    operation: object = None
    kind: str = ""

    @functools.cached_property
    def emitted(self) -> list[str] | None:
        """The SQL Django would run for the operation (emitted_in), collected on first need
        and kept: the data readers and deploy's read the same statements, so one collection
        serves both verdicts."""
        return emitted_in(self.operation, self)

    def model(self, state: ProjectState, name: str):
        try:
            return state.apps.get_model(self.app_label, name)
        except LookupError:
            return None

    def models(self, name: str, renamed: str = "") -> tuple:
        """The model `name` before the operation and after it (as `renamed` when the operation
        renames it): None for a state that has no such model."""
        return self.model(self.before, name), self.model(self.after, renamed or name)

    def field(self, state: ProjectState, model_name: str, field_name: str):
        model = self.model(state, model_name)
        if model is None:
            return None, None
        try:
            return model, model._meta.get_field(field_name)
        except FieldDoesNotExist:
            return model, None

    def touches(self, model) -> bool:
        """Whether Django's schema operations touch this model's table at all (not for proxy,
        unmanaged or swapped models, nor models routed to another database)."""
        alias = self.probe.connection.alias
        return model._meta.can_migrate(alias) and router.allow_migrate_model(alias, model)

    def table_rows(self, model) -> tuple[str, int | None]:
        """The model's table and its rows (0 for a table Django's operations leave alone)."""
        table = model._meta.db_table
        return table, (self.probe.rows(table) if self.touches(model) else 0)

    def unreadable(self, what: str) -> Finding:
        return self.finding(Level.MEDIUM, f"the guard cannot find {what} in the migration state")

    def finding(self, level: Level, reason: str, **fields) -> Finding:
        return Finding(kind=self.kind, level=level, reason=reason, **fields)

    def nothing_at_risk(self, reason: str, *, rows: int | None = 0, **fields) -> Finding:
        """The finding of an operation that puts no stored value at risk. Most readers open
        with it for a table without rows (or one Django's operations leave alone, which
        table_rows counts as empty): level none. On a table with rows, an operation that
        changes no value (an index, the _order column kept) is low."""
        level = Level.NONE if rows == 0 else Level.LOW
        return self.finding(level, reason, rows=rows, **fields)

    def rows_at_risk(
        self,
        level: Level,
        reason: str,
        rows: int | None,
        safe_alternative: str,
        *,
        empty: str,
        **fields,
    ) -> Finding:
        """The finding of an operation that puts all the table's `rows` at risk: `level` for
        `reason`, with the safe alternative; on a table without rows nothing is at risk, and
        `empty` says what the operation does. `fields` (the table, ...) go to both."""
        if rows == 0:
            return self.nothing_at_risk(empty, **fields)
        return self.finding(level, reason, rows=rows, safe_alternative=safe_alternative, **fields)


def _separate(operation, ctx: _Context) -> list[Finding]:
    """SeparateDatabaseAndState: each database operation classified between the states it
    goes through (in reverse order when undoing)."""
    steps = []
    state = ctx.after if ctx.backwards else ctx.before
    for inner in operation.database_operations:
        following = state.clone()
        inner.state_forwards(ctx.app_label, following)
        steps.append((inner, state, following))
        state = following
    if ctx.backwards:
        steps = [(inner, following, state) for inner, state, following in reversed(steps)]
    findings = []
    for inner, before, after in steps:
        findings += _classify(inner, replace(ctx, before=before, after=after))
    return findings


def rows_text(rows: int | None) -> str:
    return "an uncounted number of" if rows is None else str(rows)


@_READERS.of("CreateModel")
def _create_model(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.after, operation.name)
    if model is None:
        return ctx.finding(Level.NONE, "creates a new table")
    table = model._meta.db_table
    if ctx.touches(model):
        ctx.probe.plan_create_table(table)
    return ctx.finding(Level.NONE, "creates a new table", table=table, model=_key(model))


@_READERS.of("DeleteModel")
def _delete_model(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.name)
    if model is None:
        return ctx.unreadable(f"model {operation.name}")
    table = model._meta.db_table
    if not ctx.touches(model):
        return ctx.finding(Level.NONE, "a proxy or unmanaged model: no table is dropped")
    rows = ctx.probe.rows(table)
    reason = f"drops table {table} and its {rows_text(rows)} row(s)"
    return ctx.rows_at_risk(
        Level.HIGH,
        reason,
        rows,
        SAFE["drop"],
        empty="drops an empty table",
        table=table,
        model=_key(model),
    )


@_READERS.of("RemoveField")
def _remove_field(operation, ctx: _Context) -> Finding:
    model, field = ctx.field(ctx.before, operation.model_name, operation.name)
    if field is None:
        return ctx.unreadable(f"field {operation.model_name}.{operation.name}")
    if not ctx.touches(model):
        return ctx.finding(Level.NONE, "a proxy or unmanaged model: no column is dropped")
    table = model._meta.db_table
    if field.many_to_many:
        through = field.remote_field.through._meta.db_table
        rows = ctx.probe.rows(through)
        reason = f"drops link table {through} and its {rows_text(rows)} row(s)"
        return ctx.rows_at_risk(
            Level.HIGH, reason, rows, SAFE["drop"], empty="drops an empty link table", table=through
        )
    common = {
        "table": table,
        "column": field.column,
        "model": _key(model),
        "field": field.name,
        "definition": field,
    }
    rows = ctx.probe.rows(table)
    if rows == 0:
        return ctx.nothing_at_risk("drops a column of an empty table", **common)
    text = field.get_internal_type() in TEXT_FIELDS
    values = ctx.probe.non_null(table, field.column, text=text)
    if values == 0:
        return ctx.finding(
            Level.LOW,
            f"drops column {field.column}, which is {'empty' if text else 'NULL'} in all "
            f"{rows} row(s)",
            rows=0,
            **common,
        )
    return ctx.finding(
        Level.HIGH,
        f"drops column {field.column}: {rows_text(values)} value(s) in {rows_text(rows)} "
        "row(s) would be lost",
        rows=values,
        safe_alternative=SAFE["drop"],
        **common,
    )


@_READERS.of("AddField")
def _add_field(operation, ctx: _Context) -> Finding:
    model, field = ctx.field(ctx.after, operation.model_name, operation.name)
    if field is None:
        return ctx.unreadable(f"field {operation.model_name}.{operation.name}")
    table = model._meta.db_table
    common = {"table": table, "model": _key(model), "field": field.name, "definition": field}
    if field.many_to_many or not ctx.touches(model):
        return ctx.finding(Level.NONE, "creates a new link table or touches no table", **common)
    common["column"] = field.column
    rows = ctx.probe.rows(table)
    if rows == 0:
        return ctx.nothing_at_risk("adds a column to an empty table", **common)
    counted = {**common, "rows": rows}  # every finding below is about these rows
    declared = field if ctx.backwards else operation.field
    has_default = (
        declared.has_default()
        or getattr(declared, "db_default", models.NOT_PROVIDED) is not models.NOT_PROVIDED
    )
    if field.generated:
        # GeneratedField: the database computes the value of every row from its other columns.
        return ctx.finding(
            Level.LOW,
            f"adds generated column {field.column}, computed by the database from the other "
            f"columns of {rows_text(rows)} row(s)",
            **counted,
        )
    if field.primary_key:
        return ctx.finding(
            Level.HIGH,
            f"adds primary key {field.column} to {rows_text(rows)} row(s): the current key "
            "column is replaced",
            safe_alternative=SAFE["primary_key"],
            **counted,
        )
    if field.unique and not field.null and rows != 1:
        return ctx.finding(
            Level.HIGH,
            f"adds UNIQUE column {field.column}: all {rows_text(rows)} rows would get the same "
            "value and the migration fails partway",
            safe_alternative=(
                "Add it nullable, fill distinct values in a RunPython, then make it unique."
            ),
            **counted,
        )
    if not field.null and _fill_value(ctx, declared) is None and not declared.has_db_default():
        return ctx.finding(
            Level.HIGH,
            f"adds NOT NULL column {field.column} without a default: its {rows_text(rows)} "
            "existing row(s) would have no value for it, so the migration would fail",
            safe_alternative=(
                "Give it a db_default (or a default), or add it nullable and fill it in a "
                "RunPython before making it NOT NULL."
            ),
            **counted,
        )
    if field.null or has_default:
        return ctx.finding(
            Level.LOW,
            f"adds {'a nullable' if field.null else 'a defaulted'} column to "
            f"{rows_text(rows)} row(s)",
            **counted,
        )
    return ctx.finding(
        Level.MEDIUM,
        f"adds NOT NULL column {field.column} without a default to {rows_text(rows)} row(s)",
        safe_alternative=SAFE["not_null"],
        **counted,
    )


@_READERS.of("AlterField")
def _alter_field(operation, ctx: _Context) -> Finding:
    model, old = ctx.field(ctx.before, operation.model_name, operation.name)
    _, new = ctx.field(ctx.after, operation.model_name, operation.name)
    if old is None or new is None:
        return ctx.unreadable(f"field {operation.model_name}.{operation.name}")
    if old.many_to_many or new.many_to_many or not ctx.touches(model):
        return ctx.finding(Level.LOW, "alters a link or a model without a table of its own")
    table = model._meta.db_table
    common = {"table": table, "column": old.column, "model": _key(model), "field": old.name}
    rows = ctx.probe.rows(table)
    if rows == 0:
        return ctx.nothing_at_risk("alters a column of an empty table", **common)
    changes = _field_changes(_Alteration(operation, ctx, model, rows, old, new))
    if old.column != new.column:
        ctx.probe.plan_rename_column(table, old.column, new.column)
    if not changes:
        return ctx.nothing_at_risk("changes nothing the stored data depends on", **common)
    worst = max(change.level for change in changes)
    chosen = next(change for change in changes if change.level == worst)
    return ctx.finding(
        worst,
        "; ".join(change.what for change in changes),
        rows=chosen.rows,
        safe_alternative=chosen.safe_alternative,
        **common,
    )


@dataclass(frozen=True)
class Change:
    """One change AlterField makes to the stored data, rated: the finding names every change
    and takes its safe alternative and rows from the worst."""

    level: Level
    what: str
    safe_alternative: str
    rows: int | None


@dataclass(frozen=True)
class _Alteration:
    """What AlterField's rules read: the field before and after, in a table holding rows."""

    operation: object
    ctx: _Context
    model: type
    rows: int | None
    old: models.Field
    new: models.Field

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def connection(self):
        return self.ctx.probe.connection

    @functools.cached_property
    def old_type(self) -> str | None:
        return self.old.db_type(self.connection)

    @functools.cached_property
    def new_type(self) -> str | None:
        return self.new.db_type(self.connection)

    @property
    def shrinks(self) -> bool:
        """Whether a shorter max_length shrinks a column that holds text in both states;
        anything else becoming text (an integer becoming a CharField) is a type change."""
        old_length = getattr(self.old, "max_length", None)
        new_length = getattr(self.new, "max_length", None)
        text_both = _is_character(self.old_type) and _is_character(self.new_type)
        return bool(text_both and new_length and (not old_length or new_length < old_length))

    @property
    def retypes(self) -> bool:
        """Whether the column type changes (a shrinking text column is told apart)."""
        return not self.shrinks and self.old_type != self.new_type


def _field_changes(alteration: _Alteration) -> list[Change]:
    """Each change AlterField makes, in the order the finding's reason names them: one rule a
    change, each returning its Change or None."""
    rules = (
        _shrinks_max_length,
        _changes_type,
        _fails_integer_cast,
        _outgrows_text_type,
        _makes_not_null,
        _moves_primary_key,
        _repoints_relation,
        _adds_unique,
        _renames_column,
    )
    return [change for rule in rules if (change := rule(alteration)) is not None]


def _shrinks_max_length(a: _Alteration) -> Change | None:
    if not a.shrinks:
        return None
    old_length, new_length = getattr(a.old, "max_length", None), a.new.max_length
    limit = f"max_length {old_length or 'unlimited'} -> {new_length}"
    longer = a.ctx.probe.longer_than(a.table, a.old.column, new_length)
    if longer == 0:
        return Change(Level.MEDIUM, f"shrinks {limit} (no value is longer)", SAFE["shrink"], 0)
    return _too_long(a, f"shrinks {limit}", longer)


def _changes_type(a: _Alteration) -> Change | None:
    if not a.retypes:
        return None
    return Change(
        Level.MEDIUM,
        f"changes the column type {a.old_type} -> {a.new_type} of {rows_text(a.rows)} row(s)",
        SAFE["type"],
        a.rows,
    )


def _fails_integer_cast(a: _Alteration) -> Change | None:
    if not a.retypes or not _casts_text_to_integer(a.connection, a.old_type, a.new_type):
        return None
    failing = a.ctx.probe.not_integers(a.table, a.old.column)
    if failing == 0:
        return None
    return Change(
        Level.HIGH,
        f"changes the column type {a.old_type} -> {a.new_type}, so the migration "
        f"would fail: {rows_text(failing)} value(s) are not integers "
        "(PostgreSQL's cast rejects them)",
        SAFE["type"],
        failing,
    )


def _outgrows_text_type(a: _Alteration) -> Change | None:
    """Values that become text: do they fit the new max_length?"""
    new_length = getattr(a.new, "max_length", None)
    if not a.retypes or not new_length or not _is_character(a.new_type):
        return None
    longer = a.ctx.probe.longer_than(a.table, a.old.column, new_length)
    if longer == 0:
        return None
    return _too_long(a, f"changes the column type {a.old_type} -> {a.new_type}", longer)


def _makes_not_null(a: _Alteration) -> Change | None:
    if not a.old.null or a.new.null:
        return None
    column = a.old.column
    nulls = a.ctx.probe.nulls(a.table, column)
    if nulls == 0 or _fills_nulls(a.ctx, a.new):
        return Change(
            Level.MEDIUM,
            f"makes {column} NOT NULL: {rows_text(nulls)} row(s) are NULL now",
            SAFE["not_null"],
            nulls,
        )
    return Change(
        Level.HIGH,
        f"makes {column} NOT NULL: {rows_text(nulls)} row(s) are NULL and no "
        "default fills them, so the migration would fail",
        SAFE["not_null"],
        nulls,
    )


def _moves_primary_key(a: _Alteration) -> Change | None:
    if a.new.primary_key == a.old.primary_key:
        return None
    becomes = a.new.primary_key
    return Change(
        Level.HIGH if becomes else Level.MEDIUM,
        f"{'makes' if becomes else 'stops'} {a.old.column} "
        f"{'the' if becomes else 'being the'} primary key of {rows_text(a.rows)} "
        "row(s): the key column (and what refers to it) is rebuilt",
        SAFE["primary_key"],
        a.rows,
    )


def _repoints_relation(a: _Alteration) -> Change | None:
    old, new = a.old, a.new
    if not (old.is_relation and new.is_relation and old.related_model != new.related_model):
        return None
    return Change(
        Level.MEDIUM,
        f"points {old.column} at another table: its {rows_text(a.rows)} stored id(s) now "
        "mean other rows",
        SAFE["type"],
        a.rows,
    )


def _adds_unique(a: _Alteration) -> Change | None:
    if not a.new.unique or a.old.unique or a.new.primary_key:
        return None
    clashes = a.ctx.probe.duplicates(a.model, [a.old.name])
    if clashes == 0:
        return Change(Level.LOW, "adds UNIQUE; the current rows satisfy it (checked)", "", 0)
    return Change(
        Level.HIGH,
        f"adds UNIQUE but {rows_text(clashes)} row(s) share a value: the migration would fail",
        SAFE["violated"],
        clashes,
    )


def _renames_column(a: _Alteration) -> Change | None:
    if a.old.column == a.new.column:
        return None
    return Change(
        Level.MEDIUM, f"renames column {a.old.column} -> {a.new.column}", SAFE["rename"], a.rows
    )


def _fill_value(ctx: _Context, field):
    """The value Django's schema editor writes into existing rows for `field` (its effective
    default: the default, or '' for a blank text field); None when it has none."""
    return ctx.probe.connection.schema_editor().effective_default(field)


def _fills_nulls(ctx: _Context, new) -> bool:
    """Whether AlterField to the NOT NULL `new` fills the NULLs in before SET NOT NULL."""
    if ctx.probe.connection.vendor == "sqlite":
        # The table is copied with COALESCE(column, db_default or the effective default).
        return new.has_db_default() or _fill_value(ctx, new) is not None
    # Elsewhere only a declared default is written (UPDATE … SET column = default WHERE
    # column IS NULL): a blank CharField without one gets no '' on PostgreSQL.
    if new.has_db_default():
        return True
    return new.has_default() and _fill_value(ctx, new) is not None


def _too_long(a: _Alteration, what: str, longer: int | None) -> Change:
    """The change that leaves `longer` values longer than the new max_length, saying what this
    database really does with them: SQLite keeps them (it does not enforce max_length);
    PostgreSQL rejects them, or cuts them when Django casts the column with USING."""
    length = a.new.max_length
    vendor = a.connection.vendor
    found = f"{what}: {rows_text(longer)} value(s) are longer"
    if vendor == "sqlite":
        why = (
            f"{found}; SQLite keeps them whole (it does not enforce max_length), but forms and "
            f"model validation will reject those rows on their next save until they are cut to "
            f"{length} characters"
        )
    elif vendor == "postgresql":
        sql = a.ctx.emitted
        # ALTER COLUMN … TYPE varchar(n) rejects a longer value; with USING col::varchar(n),
        # which Django writes when the data type changes, the explicit cast cuts it instead.
        if sql is not None and not any(" USING " in statement for statement in sql):
            why = (
                f"{found}, so PostgreSQL rejects them (value too long for type character "
                f"varying({length})): the migration would fail"
            )
        else:
            why = (
                f"{found}; PostgreSQL's cast cuts them to {length} character(s): the rest of "
                "each value would be lost"
            )
    else:
        why = f"{found}; the database either rejects them or cuts them to {length} characters"
    return Change(Level.HIGH, why, SAFE["shrink"], longer)


def _casts_text_to_integer(connection, old_type: str | None, new_type: str | None) -> bool:
    """Whether AlterField casts a text column to an integer on PostgreSQL, which fails on any
    value that is not an integer. SQLite keeps such a value as text (type affinity)."""
    integer = re.match(r"(integer|bigint|smallint)\b", (new_type or "").lower())
    return connection.vendor == "postgresql" and _is_character(old_type) and bool(integer)


def _is_character(db_type: str | None) -> bool:
    """Whether a column of this database type holds text (varchar, char or text)."""
    return (db_type or "").lower().startswith(("varchar", "char", "text", "nvarchar"))


@_READERS.of("RenameField", "RenameModel", "AlterModelTable")
def _rename(operation, ctx: _Context) -> Finding:
    if isinstance(operation, ops.RenameModel):
        name = operation.new_name if ctx.backwards else operation.old_name
        target_name = operation.old_name if ctx.backwards else operation.new_name
        what = f"renames model {operation.old_name} -> {operation.new_name}"
    elif isinstance(operation, ops.RenameField):
        name = target_name = operation.model_name
        what = f"renames field {operation.old_name} -> {operation.new_name}"
    else:  # AlterModelTable
        name = target_name = operation.name
        what = f"moves the model to table {operation.table}"
    model, target = ctx.models(name, target_name)
    if model is None or target is None:
        return ctx.unreadable(f"model {name}")
    if not ctx.touches(model):
        return ctx.finding(Level.NONE, f"{what} (no table of its own)")
    table = model._meta.db_table
    renamed = target._meta.db_table != table
    if renamed:
        ctx.probe.plan_rename_table(table, target._meta.db_table)
    if isinstance(operation, ops.RenameField):
        old_field, new_field = (
            (operation.new_name, operation.old_name)
            if ctx.backwards
            else (operation.old_name, operation.new_name)
        )
        old_column = model._meta.get_field(old_field).column
        new_column = target._meta.get_field(new_field).column
        ctx.probe.plan_rename_column(table, old_column, new_column)
        renamed = renamed or old_column != new_column
    # A fixed Meta.db_table (or db_column) keeps every name the database sees: then Django
    # runs no SQL at all, unless something else changes (a foreign key pointing at the
    # model is altered, an M2M table named after it is renamed), as the emitted SQL tells.
    if not renamed and ctx.emitted == []:
        return ctx.nothing_at_risk(f"{what}: the table keeps its name and no SQL runs", table=table)
    rows = ctx.probe.rows(table)
    reason = f"{what} in a table with {rows_text(rows)} row(s)"
    return ctx.rows_at_risk(
        Level.MEDIUM, reason, rows, SAFE["rename"], empty=f"{what} (empty table)", table=table
    )


@_READERS.of("AddConstraint")
def _add_constraint(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.model_name)
    constraint = getattr(operation, "constraint", None)
    if ctx.backwards:  # undoing a RemoveConstraint puts the old one back
        target = ctx.model(ctx.after, operation.model_name)
        constraints = target._meta.constraints if target else []
        constraint = next((c for c in constraints if c.name == operation.name), None)
    if model is None or constraint is None:
        return ctx.unreadable(f"the constraint on {operation.model_name}")
    table, rows = ctx.table_rows(model)
    if rows == 0:
        return ctx.nothing_at_risk(f"adds {constraint.name} to an empty table", table=table)
    broken = _violations(model, constraint, ctx.probe)
    if broken == 0:
        return ctx.finding(
            Level.LOW,
            f"adds {constraint.name}; all {rows_text(rows)} row(s) satisfy it (checked)",
            table=table,
            rows=0,
        )
    if broken is None:
        return ctx.finding(
            Level.MEDIUM,
            f"adds {constraint.name}, which the guard cannot check against the "
            f"{rows_text(rows)} row(s): the migration may fail",
            table=table,
            safe_alternative=SAFE["violated"],
        )
    return ctx.finding(
        Level.HIGH,
        f"adds {constraint.name} but {broken} of {rows_text(rows)} row(s) break it: "
        "the migration would fail",
        table=table,
        rows=broken,
        safe_alternative=SAFE["violated"],
    )


def _violations(model, constraint, probe: DataProbe) -> int | None:
    if isinstance(constraint, models.UniqueConstraint):
        if constraint.expressions or not constraint.fields:
            return None
        return probe.duplicates(
            model,
            list(constraint.fields),
            condition=constraint.condition,
            nulls_distinct=constraint.nulls_distinct,
        )
    if isinstance(constraint, models.CheckConstraint):
        condition = getattr(constraint, "condition", None) or getattr(constraint, "check", None)
        return probe.violating(model, condition) if condition is not None else None
    return None


@_READERS.of("RemoveConstraint")
def _remove_constraint(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.model_name)
    name = getattr(operation, "name", None) or operation.constraint.name
    if model is None:
        return ctx.unreadable(f"model {operation.model_name}")
    table, rows = ctx.table_rows(model)
    reason = f"removes constraint {name}: the database stops protecting {rows_text(rows)} row(s)"
    empty = f"removes {name} from an empty table"
    return ctx.rows_at_risk(
        Level.MEDIUM, reason, rows, SAFE["constraint"], empty=empty, table=table
    )


@_READERS.of("AlterUniqueTogether")
def _alter_together(operation, ctx: _Context) -> Finding:
    model, target = ctx.models(operation.name)
    if model is None or target is None:
        return ctx.unreadable(f"model {operation.name}")
    table, rows = ctx.table_rows(model)
    if rows == 0:
        return ctx.nothing_at_risk("changes unique_together of an empty table", table=table)
    old = {tuple(s) for s in model._meta.unique_together}
    new = {tuple(s) for s in target._meta.unique_together}
    for fields in sorted(new - old):
        clashes = ctx.probe.duplicates(model, list(fields))
        if clashes != 0:
            return ctx.finding(
                Level.HIGH,
                f"makes {', '.join(fields)} unique but {rows_text(clashes)} row(s) share "
                "values (or cannot be checked): the migration would fail",
                table=table,
                rows=clashes,
                safe_alternative=SAFE["violated"],
            )
    if old - new:
        return ctx.finding(
            Level.MEDIUM,
            f"removes a unique_together that protects {rows_text(rows)} row(s)",
            table=table,
            rows=rows,
            safe_alternative=SAFE["constraint"],
        )
    return ctx.finding(
        Level.LOW, "adds unique_together; the rows satisfy it (checked)", table=table, rows=0
    )


@_READERS.of("AddIndex", "RemoveIndex", "RenameIndex", "AlterIndexTogether")
def _index(operation, ctx: _Context) -> Finding:
    name = getattr(operation, "model_name", None) or getattr(operation, "name", "")
    model = ctx.model(ctx.before, name)
    table, rows = ctx.table_rows(model) if model else ("", 0)
    return ctx.nothing_at_risk("changes indexes only (no data changes)", table=table, rows=rows)


@_READERS.of("AddIndexConcurrently", "RemoveIndexConcurrently")
def _index_concurrently(operation, ctx: _Context) -> Finding:
    """AddIndexConcurrently and RemoveIndexConcurrently: PostgreSQL's CREATE/DROP INDEX
    CONCURRENTLY, the safe way to index a table in use, which cannot run in a transaction."""
    name = type(operation).__name__
    vendor = ctx.probe.connection.vendor
    model = ctx.model(ctx.before, operation.model_name)
    if vendor != "postgresql" and (model is None or ctx.touches(model)):
        return ctx.finding(
            Level.HIGH,
            f"{name} is for PostgreSQL only: on {vendor} the migration would fail",
            safe_alternative=f"Use {name.removesuffix('Concurrently')} on {vendor}.",
        )
    if ctx.atomic:
        return ctx.finding(
            Level.HIGH,
            f"{name} cannot run inside a transaction: the migration would fail (Django "
            "requires atomic = False on the migration)",
            safe_alternative=(
                "Set atomic = False on the migration and keep the operation in a migration of "
                "its own."
            ),
        )
    return _index(operation, ctx)


@_READERS.of("AlterOrderWithRespectTo")
def _order_with_respect_to(operation, ctx: _Context) -> Finding:
    """order_with_respect_to adds an _order column; setting it back to None drops it."""
    model, target = ctx.models(operation.name)
    if model is None or target is None:
        return ctx.unreadable(f"model {operation.name}")
    table, rows = ctx.table_rows(model)
    dropping = model._meta.order_with_respect_to and not target._meta.order_with_respect_to
    if rows == 0 or not dropping:
        return ctx.nothing_at_risk("adds or keeps the _order column", table=table, rows=rows)
    return ctx.finding(
        Level.HIGH,
        f"drops column _order: the order of {rows_text(rows)} row(s) would be lost",
        table=table,
        column="_order",
        rows=rows,
        safe_alternative=SAFE["drop"],
    )


@_READERS.of("AlterConstraint", "AlterModelOptions", "AlterModelManagers", "AlterModelTableComment")
def _options(operation, ctx: _Context) -> Finding:
    return ctx.finding(Level.NONE, "changes Django's model options only")


@dataclass(frozen=True)
class _RatedStatement:
    """One statement of a RunSQL, with its verdict and the rows that verdict counts."""

    level: Level
    why: str
    statement: sql.Statement
    rows: int | None


@_READERS.of("RunSQL")
def _run_sql(operation, ctx: _Context) -> Finding:
    source = operation.reverse_sql if ctx.backwards else operation.sql
    if ctx.backwards and source is None:
        return ctx.finding(Level.NONE, "irreversible: Django refuses to undo it")
    statements = sql.statements_of(source)
    if not statements:
        return ctx.finding(Level.NONE, "no SQL to run")
    has_data = ctx.probe.has_data()
    rated: list[_RatedStatement] = []
    for statement in statements:
        rows = _sql_rows(statement, ctx.probe)
        matched, overwritten = _sql_matches(statement, rows, ctx.probe)
        level, why = sql.level_of(
            statement, rows, has_data, matched=matched, overwritten=overwritten
        )
        counted = overwritten if overwritten else matched
        rated.append(_RatedStatement(level, why, statement, rows if counted is None else counted))
        if statement.effect == "create":
            for table in statement.tables:
                ctx.probe.plan_create_table(table)
        if statement.renamed_to:
            ctx.probe.plan_rename_table(statement.tables[0], statement.renamed_to)
        if statement.renamed_column and statement.tables:
            ctx.probe.plan_rename_column(statement.tables[0], *statement.renamed_column)
    first_worst = max(rated, key=lambda rated_statement: rated_statement.level)
    worst, why, statement = first_worst.level, first_worst.why, first_worst.statement
    dropped = {t.lower() for s in statements if s.effect == "drop_table" for t in s.tables}
    created = {t.lower() for s in statements if s.effect == "create" for t in s.tables}
    if dropped & created and worst == Level.HIGH:
        why = f"drops and recreates {', '.join(sorted(dropped & created))}: {why}"
    shown = statement.text if len(statement.text) <= 120 else statement.text[:117] + "…"
    return ctx.finding(
        worst,
        f"{why} ({shown})",
        table=statement.tables[0] if statement.tables else "",
        rows=first_worst.rows,
        safe_alternative=SAFE["sql"] if worst >= Level.MEDIUM else "",
    )


def _sql_rows(statement: sql.Statement, probe: DataProbe) -> int | None:
    """Rows of the tables a statement names; None when any is unknown (or none is named)."""
    if not statement.tables:
        return None
    counts = [probe.rows(table) for table in statement.tables]
    if statement.effect == "create":
        return sum(c or 0 for c in counts)
    return None if None in counts else sum(counts)


def _sql_matches(
    statement: sql.Statement, rows: int | None, probe: DataProbe
) -> tuple[int | None, int | None]:
    """For a DELETE or UPDATE whose WHERE the guard can count: the rows it selects and, for an
    UPDATE, those where it overwrites a value that is not NULL (every selected row when the
    columns it sets cannot be read). (None, None) when uncounted."""
    if not statement.where or statement.effect not in ("delete", "update") or rows == 0:
        return None, None
    table = statement.tables[0]
    matched = probe.matching(table, statement.where)
    if statement.effect == "delete" or not matched:
        return matched, None if matched is None else 0
    if not statement.set_columns:
        return matched, matched
    holding = " OR ".join(f"{column} IS NOT NULL" for column in statement.set_columns)
    return matched, probe.matching(table, f"({statement.where}) AND ({holding})")


@_READERS.of("RunPython")
def _run_python(operation, ctx: _Context) -> Finding:
    code = operation.reverse_code if ctx.backwards else operation.code
    if ctx.backwards and code is None:
        return ctx.finding(Level.NONE, "irreversible: Django refuses to undo it")
    effect, why = python_code.effect_of(code)
    if effect == python_code.Effect.NONE:
        return ctx.finding(Level.NONE, why)
    if not ctx.probe.has_data():
        return ctx.finding(Level.LOW, f"runs code on a database without data ({why})")
    if effect == python_code.Effect.READS:
        return ctx.finding(Level.LOW, why)
    if effect == python_code.Effect.ADDS:
        return ctx.finding(
            Level.MEDIUM,
            f"data migration that only adds rows: {why}",
            safe_alternative=SAFE["python"],
        )
    return ctx.finding(Level.HIGH, f"data transformation: {why}", safe_alternative=SAFE["python"])


def _unknown(operation, ctx: _Context) -> Finding:
    if not ctx.probe.has_data():
        return ctx.finding(Level.NONE, f"{ctx.kind} on a database without data")
    return ctx.finding(
        Level.HIGH,
        f"{ctx.kind} is an operation the guard cannot read; treated as destructive",
        safe_alternative=(
            "Check what it does and record a review (manage.py review_migration); the "
            "pre-migration backup is taken."
        ),
    )


def _key(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}" if model is not None else ""
