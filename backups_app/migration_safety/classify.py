"""The §7 classification of one migration operation against the live data."""

from dataclasses import dataclass

from django.db import models
from django.db.migrations import operations as ops
from django.db.migrations.state import ProjectState

from backups_app.migration_safety import python_code, sql
from backups_app.migration_safety.data import DataProbe
from backups_app.migration_safety.levels import Level

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
    "sql": (
        "Rewrite it as schema operations Django can reverse, or give every DELETE/UPDATE a WHERE "
        "and copy what a DROP or TRUNCATE would destroy first."
    ),
    "python": (
        "Try it on a restored copy first, give it a reverse_code, and record the review with "
        "`manage.py review_migration APP MIGRATION --reason …`."
    ),
}


@dataclass
class Finding:
    """What one operation does to the data."""

    kind: str  # the operation as the database sees it (undoing AddField is a RemoveField)
    level: Level
    reason: str
    table: str = ""
    column: str = ""
    rows: int | None = None
    safe_alternative: str = ""
    model: str = ""  # "app_label.modelname", to pair removals with additions
    field: str = ""


def classify(
    operation,
    *,
    app_label: str,
    before: ProjectState,
    after: ProjectState,
    backwards: bool,
    probe: DataProbe,
) -> list[Finding]:
    """Classify `operation` taking the database from state `before` to state `after`.

    When undoing a migration, `before` is the state with the operation applied and `after`
    the one without it. SeparateDatabaseAndState gives one finding per database operation.
    """
    if isinstance(operation, ops.SeparateDatabaseAndState):
        return _separate(operation, app_label, before, after, backwards, probe)
    kind = type(operation).__name__
    if backwards:
        kind = REVERSED.get(kind, kind)
    reader = _READERS.get(kind, _unknown)
    return [reader(operation, _Context(app_label, before, after, backwards, probe, kind))]


@dataclass
class _Context:
    app_label: str
    before: ProjectState
    after: ProjectState
    backwards: bool
    probe: DataProbe
    kind: str

    def model(self, state: ProjectState, name: str):
        try:
            return state.apps.get_model(self.app_label, name)
        except LookupError:
            return None

    def field(self, state: ProjectState, model_name: str, field_name: str):
        model = self.model(state, model_name)
        if model is None:
            return None, None
        try:
            return model, model._meta.get_field(field_name)
        except Exception:  # FieldDoesNotExist
            return model, None

    def finding(self, level: Level, reason: str, **fields) -> Finding:
        return Finding(kind=self.kind, level=level, reason=reason, **fields)


def _separate(operation, app_label, before, after, backwards, probe) -> list[Finding]:
    start = after if backwards else before
    steps = []
    state = start
    for inner in operation.database_operations:
        following = state.clone()
        inner.state_forwards(app_label, following)
        steps.append((inner, state, following))
        state = following
    if backwards:
        steps = [(inner, following, state) for inner, state, following in reversed(steps)]
    findings = []
    for inner, inner_before, inner_after in steps:
        findings += classify(
            inner,
            app_label=app_label,
            before=inner_before,
            after=inner_after,
            backwards=backwards,
            probe=probe,
        )
    return findings


def _create_model(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.after, operation.name)
    table = model._meta.db_table if model else ""
    return ctx.finding(
        Level.NONE,
        "creates a new table",
        table=table,
        model=_key(model),
    )


def _delete_model(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.name)
    if model is None:
        return ctx.finding(Level.NONE, "the model is not in the current state")
    table = model._meta.db_table
    rows = ctx.probe.rows(table)
    if not rows:
        return ctx.finding(
            Level.NONE, "drops an empty table", table=table, rows=0, model=_key(model)
        )
    return ctx.finding(
        Level.HIGH,
        f"drops table {table} and its {rows} row(s)",
        table=table,
        rows=rows,
        safe_alternative=SAFE["drop"],
        model=_key(model),
    )


def _remove_field(operation, ctx: _Context) -> Finding:
    model, field = ctx.field(ctx.before, operation.model_name, operation.name)
    if field is None:
        return ctx.finding(Level.NONE, "the field is not in the current state")
    table = model._meta.db_table
    if field.many_to_many:
        through = field.remote_field.through._meta.db_table
        rows = ctx.probe.rows(through)
        level = Level.HIGH if rows else Level.NONE
        return ctx.finding(
            level,
            f"drops link table {through} and its {rows} row(s)"
            if rows
            else "drops an empty link table",
            table=through,
            rows=rows,
            safe_alternative=SAFE["drop"] if rows else "",
        )
    rows = ctx.probe.rows(table)
    common = {"table": table, "column": field.column, "model": _key(model), "field": field.name}
    if not rows:
        return ctx.finding(Level.NONE, "drops a column of an empty table", rows=0, **common)
    values = ctx.probe.non_null(table, field.column)
    if values == 0:
        return ctx.finding(
            Level.LOW,
            f"drops column {field.column}, which is NULL in all {rows} row(s)",
            rows=0,
            **common,
        )
    lost = rows if values is None else values
    return ctx.finding(
        Level.HIGH,
        f"drops column {field.column}: {lost} value(s) in {rows} row(s) would be lost",
        rows=lost,
        safe_alternative=SAFE["drop"],
        **common,
    )


def _add_field(operation, ctx: _Context) -> Finding:
    model, field = ctx.field(ctx.after, operation.model_name, operation.name)
    if field is None:
        return ctx.finding(Level.NONE, "the field is not in the target state")
    table = model._meta.db_table
    common = {"table": table, "model": _key(model), "field": field.name}
    if field.many_to_many:
        return ctx.finding(Level.NONE, "creates a new link table", **common)
    common["column"] = field.column
    rows = ctx.probe.rows(table)
    if not rows:
        return ctx.finding(Level.NONE, "adds a column to an empty table", rows=0, **common)
    declared = operation.field if not ctx.backwards else field
    has_default = (
        declared.has_default()
        or getattr(declared, "db_default", models.NOT_PROVIDED) is not models.NOT_PROVIDED
    )
    if field.unique and not field.null and rows > 1:
        return ctx.finding(
            Level.HIGH,
            f"adds UNIQUE column {field.column}: all {rows} rows would get the same value and the "
            "migration fails partway",
            rows=rows,
            safe_alternative=(
                "Add it nullable, fill distinct values in a RunPython, then make it unique."
            ),
            **common,
        )
    if field.null or has_default:
        return ctx.finding(
            Level.LOW,
            f"adds {'a nullable' if field.null else 'a defaulted'} column to {rows} row(s)",
            rows=rows,
            **common,
        )
    return ctx.finding(
        Level.MEDIUM,
        f"adds NOT NULL column {field.column} without a default to {rows} row(s)",
        rows=rows,
        safe_alternative=SAFE["not_null"],
        **common,
    )


def _alter_field(operation, ctx: _Context) -> Finding:
    model, old = ctx.field(ctx.before, operation.model_name, operation.name)
    _, new = ctx.field(ctx.after, operation.model_name, operation.name)
    if old is None or new is None or old.many_to_many or new.many_to_many:
        return ctx.finding(Level.LOW, "alters a field the guard cannot compare")
    table = model._meta.db_table
    common = {"table": table, "column": old.column, "model": _key(model), "field": old.name}
    rows = ctx.probe.rows(table)
    if not rows:
        return ctx.finding(Level.NONE, "alters a column of an empty table", rows=0, **common)
    connection = ctx.probe.connection
    changes: list[tuple[Level, str, str, int | None]] = []
    old_length, new_length = getattr(old, "max_length", None), getattr(new, "max_length", None)
    if old_length and new_length and new_length < old_length:
        longer = ctx.probe.longer_than(table, old.column, new_length)
        if longer:
            changes.append(
                (
                    Level.HIGH,
                    f"shrinks max_length {old_length} -> {new_length}: "
                    f"{longer} value(s) are longer",
                    SAFE["shrink"],
                    longer,
                )
            )
        else:
            changes.append(
                (
                    Level.MEDIUM,
                    f"shrinks max_length {old_length} -> {new_length} (no value is longer)",
                    SAFE["shrink"],
                    0,
                )
            )
    elif old.db_type(connection) != new.db_type(connection):
        changes.append(
            (
                Level.MEDIUM,
                f"changes the column type {old.db_type(connection)} -> "
                f"{new.db_type(connection)} of {rows} row(s)",
                SAFE["type"],
                rows,
            )
        )
    if old.null and not new.null:
        nulls = ctx.probe.nulls(table, old.column)
        changes.append(
            (
                Level.MEDIUM,
                f"makes {old.column} NOT NULL: {nulls} row(s) are NULL now",
                SAFE["not_null"],
                nulls,
            )
        )
    if new.unique and not old.unique and not new.primary_key:
        clashes = ctx.probe.duplicates(table, [old.column])
        if clashes:
            changes.append(
                (
                    Level.HIGH,
                    f"adds UNIQUE but {clashes} row(s) share a value: the migration would fail",
                    SAFE["violated"],
                    clashes,
                )
            )
        else:
            changes.append((Level.LOW, "adds UNIQUE; the current rows satisfy it (checked)", "", 0))
    if old.column != new.column:
        changes.append(
            (Level.MEDIUM, f"renames column {old.column} -> {new.column}", SAFE["rename"], rows)
        )
    if not changes:
        return ctx.finding(
            Level.NONE, "changes nothing the stored data depends on", rows=0, **common
        )
    worst = max(change[0] for change in changes)
    safe = next(change[2] for change in changes if change[0] == worst)
    affected = next(change[3] for change in changes if change[0] == worst)
    return ctx.finding(
        worst,
        "; ".join(change[1] for change in changes),
        rows=affected,
        safe_alternative=safe,
        **common,
    )


def _rename(operation, ctx: _Context) -> Finding:
    if isinstance(operation, ops.RenameModel):
        name = operation.new_name if ctx.backwards else operation.old_name
        what = f"renames model {operation.old_name} -> {operation.new_name}"
    elif isinstance(operation, ops.RenameField):
        name = operation.model_name
        what = f"renames field {operation.old_name} -> {operation.new_name}"
    else:  # AlterModelTable
        name = operation.name
        what = f"moves the model to table {operation.table}"
    model = ctx.model(ctx.before, name)
    table = model._meta.db_table if model else ""
    rows = ctx.probe.rows(table) if table else 0
    if not rows:
        return ctx.finding(Level.NONE, f"{what} (empty table)", table=table, rows=0)
    return ctx.finding(
        Level.MEDIUM,
        f"{what} in a table with {rows} row(s)",
        table=table,
        rows=rows,
        safe_alternative=SAFE["rename"],
    )


def _add_constraint(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.model_name)
    constraint = getattr(operation, "constraint", None)
    if ctx.backwards:  # undoing a RemoveConstraint puts the old one back
        target = ctx.model(ctx.after, operation.model_name)
        constraint = next(
            (c for c in (target._meta.constraints if target else []) if c.name == operation.name),
            None,
        )
    if model is None or constraint is None:
        return ctx.finding(Level.LOW, "adds a constraint the guard cannot check")
    table = model._meta.db_table
    rows = ctx.probe.rows(table)
    if not rows:
        return ctx.finding(
            Level.NONE, f"adds {constraint.name} to an empty table", table=table, rows=0
        )
    broken = _violations(model, constraint, ctx.probe)
    if broken is None:
        return ctx.finding(
            Level.LOW, f"adds {constraint.name} (not checkable against the rows)", table=table
        )
    if broken:
        return ctx.finding(
            Level.HIGH,
            f"adds {constraint.name} but {broken} of {rows} row(s) break it: "
            "the migration would fail",
            table=table,
            rows=broken,
            safe_alternative=SAFE["violated"],
        )
    return ctx.finding(
        Level.LOW,
        f"adds {constraint.name}; all {rows} row(s) satisfy it (checked)",
        table=table,
        rows=0,
    )


def _violations(model, constraint, probe: DataProbe) -> int | None:
    if isinstance(constraint, models.UniqueConstraint):
        if constraint.condition is not None or constraint.expressions or not constraint.fields:
            return None
        columns = [model._meta.get_field(name).column for name in constraint.fields]
        return probe.duplicates(model._meta.db_table, columns)
    if isinstance(constraint, models.CheckConstraint):
        condition = getattr(constraint, "condition", None) or getattr(constraint, "check", None)
        return probe.violating(model, condition) if condition is not None else None
    return None


def _remove_constraint(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.model_name)
    table = model._meta.db_table if model else ""
    rows = ctx.probe.rows(table) if table else 0
    name = getattr(operation, "name", None) or operation.constraint.name
    if not rows:
        return ctx.finding(Level.NONE, f"removes {name} from an empty table", table=table, rows=0)
    return ctx.finding(
        Level.MEDIUM,
        f"removes constraint {name}: the database stops protecting {rows} row(s)",
        table=table,
        rows=rows,
        safe_alternative=SAFE["constraint"],
    )


def _alter_together(operation, ctx: _Context) -> Finding:
    model = ctx.model(ctx.before, operation.name)
    target = ctx.model(ctx.after, operation.name)
    if model is None or target is None:
        return ctx.finding(Level.LOW, "changes unique_together of a model the guard cannot read")
    table = model._meta.db_table
    rows = ctx.probe.rows(table)
    if not rows:
        return ctx.finding(
            Level.NONE, "changes unique_together of an empty table", table=table, rows=0
        )
    old = {tuple(s) for s in model._meta.unique_together}
    new = {tuple(s) for s in target._meta.unique_together}
    for fields in sorted(new - old):
        columns = [model._meta.get_field(name).column for name in fields]
        clashes = ctx.probe.duplicates(table, columns)
        if clashes:
            return ctx.finding(
                Level.HIGH,
                f"makes {', '.join(fields)} unique but {clashes} row(s) share values: "
                "the migration would fail",
                table=table,
                rows=clashes,
                safe_alternative=SAFE["violated"],
            )
    if old - new:
        return ctx.finding(
            Level.MEDIUM,
            f"removes a unique_together that protects {rows} row(s)",
            table=table,
            rows=rows,
            safe_alternative=SAFE["constraint"],
        )
    return ctx.finding(
        Level.LOW, "adds unique_together; the rows satisfy it (checked)", table=table, rows=0
    )


def _index(operation, ctx: _Context) -> Finding:
    name = getattr(operation, "model_name", None) or getattr(operation, "name", "")
    model = ctx.model(ctx.before, name)
    table = model._meta.db_table if model else ""
    rows = ctx.probe.rows(table) if table else 0
    level = Level.LOW if rows else Level.NONE
    return ctx.finding(level, "changes indexes only (no data changes)", table=table, rows=rows)


def _options(operation, ctx: _Context) -> Finding:
    return ctx.finding(Level.NONE, "changes Django's model options only")


def _run_sql(operation, ctx: _Context) -> Finding:
    source = operation.reverse_sql if ctx.backwards else operation.sql
    if ctx.backwards and source is None:
        return ctx.finding(Level.NONE, "irreversible: Django refuses to undo it")
    statements = sql.statements_of(source)
    if not statements:
        return ctx.finding(Level.NONE, "no SQL to run")
    has_data = ctx.probe.has_data()
    rated = []
    for statement in statements:
        rows = sum(ctx.probe.rows(t) for t in statement.tables) if statement.tables else None
        level, why = sql.level_of(statement, rows, has_data)
        rated.append((level, why, statement, rows))
    worst = max(r[0] for r in rated)
    level, why, statement, rows = next(r for r in rated if r[0] == worst)
    dropped = {t for s in statements if s.effect == "drop_table" for t in s.tables}
    recreated = dropped & {t for s in statements if s.effect == "create" for t in s.tables}
    if recreated and worst == Level.HIGH:
        why = f"drops and recreates {', '.join(sorted(recreated))}: {why}"
    shown = statement.text if len(statement.text) <= 120 else statement.text[:117] + "…"
    return ctx.finding(
        worst,
        f"{why} ({shown})",
        table=statement.tables[0] if statement.tables else "",
        rows=rows,
        safe_alternative=SAFE["sql"] if worst >= Level.MEDIUM else "",
    )


def _run_python(operation, ctx: _Context) -> Finding:
    code = operation.reverse_code if ctx.backwards else operation.code
    if ctx.backwards and code is None:
        return ctx.finding(Level.NONE, "irreversible: Django refuses to undo it")
    effect, why = python_code.effect_of(code)
    if effect == "none":
        return ctx.finding(Level.NONE, why)
    if not ctx.probe.has_data():
        return ctx.finding(Level.LOW, f"runs code on a database without data ({why})")
    if effect == "adds":
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
        Level.MEDIUM,
        f"{ctx.kind} is an operation the guard cannot read; treated as a change to the data",
        safe_alternative="Check what it does; the pre-migration backup is taken.",
    )


def _key(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}" if model is not None else ""


_READERS = {
    "CreateModel": _create_model,
    "DeleteModel": _delete_model,
    "AddField": _add_field,
    "RemoveField": _remove_field,
    "AlterField": _alter_field,
    "RenameField": _rename,
    "RenameModel": _rename,
    "AlterModelTable": _rename,
    "AddConstraint": _add_constraint,
    "RemoveConstraint": _remove_constraint,
    "AlterUniqueTogether": _alter_together,
    "AddIndex": _index,
    "RemoveIndex": _index,
    "RenameIndex": _index,
    "AlterIndexTogether": _index,
    "AlterOrderWithRespectTo": _index,
    "AlterModelOptions": _options,
    "AlterModelManagers": _options,
    "AlterModelTableComment": _options,
    "RunSQL": _run_sql,
    "RunPython": _run_python,
}
