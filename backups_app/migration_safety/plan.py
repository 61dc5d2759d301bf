"""Build the migration plan `migrate` would run and classify every operation in it (§7)."""

import sys
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from backups_app.exceptions import MigrationTargetError
from backups_app.migration_safety.classify import SAFE, Finding, classify, rows_text
from backups_app.migration_safety.data import DataProbe
from backups_app.migration_safety.deploy import flag_locks_held_through_data_migrations
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.report import OperationRisk, PlannedMigration, RiskReport
from backups_app.migration_safety.review import Review, ReviewStatus, review_of
from backups_app.migration_safety.targets import migration_targets


def migration_risk_report(
    *, database: str = "default", app_label: str | None = None, migration_name: str | None = None
) -> RiskReport:
    """The risk report for `migrate [app_label] [migration_name]`. Reads the data, changes
    nothing. Raises MigrationTargetError for an unknown app or migration."""
    connection = connections[database]
    executor = MigrationExecutor(connection)
    targets = migration_targets(executor, app_label, migration_name)
    plan = executor.migration_plan(targets)
    report = RiskReport(database=database, vendor=connection.vendor)
    if not plan:
        return report  # nothing to apply: no reason to read the data
    probe = DataProbe(connection)
    report.has_data = probe.has_data()
    if len({backwards for _, backwards in plan}) > 1:
        raise MigrationTargetError(
            "The plan mixes applying and unapplying migrations; Django refuses it."
        )
    backwards = plan[0][1]
    report.atomic = connection.features.can_rollback_ddl and all(m.atomic for m, _ in plan)
    for migration, _ in plan:
        report.migrations.append(
            PlannedMigration(
                name=f"{migration.app_label}.{migration.name}",
                direction="unapply" if backwards else "apply",
                review=review_of(migration),
                path=migration_path(migration),
            )
        )
    reviews = {m.name: m.review for m in report.migrations}
    if not report.has_data:
        findings = _nothing_at_risk(plan)
    elif backwards:
        findings = _findings_backwards(executor, plan, probe)
    else:
        findings = _findings_forwards(executor, plan, probe)
    _flag_accidental_renames([finding for _, _, finding in findings])
    if not backwards and connection.vendor == "postgresql":
        flag_locks_held_through_data_migrations(findings, probe)
    for migration, operation, finding in findings:
        label = f"{migration.app_label}.{migration.name}"
        report.operations.append(
            OperationRisk.of(
                finding,
                migration=label,
                direction="unapply" if backwards else "apply",
                operation=("Undo: " if backwards else "") + operation.describe(),
                reviewed=reviews.get(label, Review(ReviewStatus.NONE)).valid,
            )
        )
    return report


def migration_path(migration) -> str:
    """The file a migration was loaded from, relative to the project (BASE_DIR) when inside it,
    as CI annotations name files; "" when the loader has no file for it."""
    module = sys.modules.get(type(migration).__module__)
    filename = getattr(module, "__file__", None)
    if not filename:
        return ""
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def _findings_forwards(executor, plan, probe):
    # The state of what is applied, as Django's migrate command builds it.
    state = executor._create_project_state(with_applied_migrations=True)
    found = []
    for migration, _ in plan:
        steps, state = _steps(migration, state)
        found += _classified(migration, steps, backwards=False, probe=probe)
    return found


def _steps(migration, state):
    """(operation, state before it, state after it) for each operation, and the final state."""
    steps = []
    for operation in migration.operations:
        after = state.clone()
        operation.state_forwards(migration.app_label, after)
        steps.append((operation, state, after))
        state = after
    return steps, state


def _classified(migration, steps, *, backwards: bool, probe: DataProbe):
    """Classify each step; undoing a migration runs its operations last to first."""
    found = []
    for operation, without, applied in reversed(steps) if backwards else steps:
        before, after = (applied, without) if backwards else (without, applied)
        found += [
            (migration, operation, finding)
            for finding in classify(
                operation,
                app_label=migration.app_label,
                before=before,
                after=after,
                backwards=backwards,
                probe=probe,
                atomic=migration.atomic,
            )
        ]
    return found


def _findings_backwards(executor, plan, probe):
    # As Django's executor does: the project state before each migration being unapplied.
    full_plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    to_undo = {migration for migration, _ in plan}
    applied = {
        executor.loader.graph.nodes[key]
        for key in executor.loader.applied_migrations
        if key in executor.loader.graph.nodes
    }
    states = {}
    state = executor._create_project_state()
    for migration, _ in full_plan:
        if not to_undo - set(states):
            break
        if migration in to_undo:
            states[migration] = state
            state = migration.mutate_state(state, preserve=True)
        elif migration in applied:
            migration.mutate_state(state, preserve=False)
    found = []
    for migration, _ in plan:
        steps, _ = _steps(migration, states[migration])
        found += _classified(migration, steps, backwards=True, probe=probe)
    return found


def _nothing_at_risk(plan):
    return [
        (
            migration,
            operation,
            Finding(
                kind=type(operation).__name__,
                level=Level.NONE,
                reason="the database holds no data yet",
                deploy_reason="the database holds no data yet: no release is serving it",
            ),
        )
        for migration, _ in plan
        for operation in migration.operations
    ]


def _flag_accidental_renames(findings: list[Finding]) -> None:
    """RemoveField + AddField on one model, or DeleteModel + CreateModel of one table, in one
    plan: what an accidental rename (or the July incident's drop and recreate) looks like.
    A field is paired with one added under its own name (the column is recreated), else with
    one that could be it renamed; two unrelated fields are no rename."""
    pairs = [
        ("RemoveField", "AddField", "model", "rename_pair"),
        ("DeleteModel", "CreateModel", "table", "recreate"),
    ]
    for removal_kind, addition_kind, key, safe in pairs:
        used: set[int] = set()
        for removal in findings:
            if removal.kind != removal_kind or removal.level < Level.HIGH:
                continue
            candidates = [
                (j, addition)
                for j, addition in enumerate(findings)
                if j not in used
                and addition.kind == addition_kind
                and getattr(removal, key)
                and getattr(removal, key) == getattr(addition, key)
            ]
            if removal_kind == "RemoveField":
                candidates = [
                    *[c for c in candidates if c[1].field == removal.field],
                    *[c for c in candidates if _plausible_rename(removal, c[1])],
                ]
            if not candidates:
                continue
            j, addition = candidates[0]
            used.add(j)
            if removal_kind == "DeleteModel":
                why = (
                    f"drops and recreates {removal.table}: its {rows_text(removal.rows)} "
                    "row(s) would be lost (what happened in the July 2025 incident)"
                )
            elif addition.field == removal.field:
                why = (
                    f"recreates column {removal.column}: {rows_text(removal.rows)} value(s) "
                    "would be lost and the new column starts empty"
                )
            else:
                why = (
                    f"looks like an accidental rename of {removal.field} to "
                    f"{addition.field}: {rows_text(removal.rows)} value(s) of "
                    f"{removal.column} would be lost and {addition.column} starts empty"
                )
            for finding in (addition, removal):
                finding.level = Level.HIGH
                finding.reason = why
                finding.safe_alternative = SAFE[safe]
                finding.rows = removal.rows
                finding.table = removal.table


def _plausible_rename(removal: Finding, addition: Finding) -> bool:
    """Whether the added field could be the removed one under a new name: the same type,
    pointing at the same model, and able to hold every value the removed one held (a
    max_length as long, NULL allowed where it was)."""
    old, new = removal.definition, addition.definition
    if old is None or new is None or old.get_internal_type() != new.get_internal_type():
        return False
    if _points_at(old) != _points_at(new):
        return False
    old_length, new_length = getattr(old, "max_length", None), getattr(new, "max_length", None)
    if new_length is not None and (old_length is None or new_length < old_length):
        return False
    return new.null or not old.null


def _points_at(field) -> str:
    target = getattr(field.remote_field, "model", None) if field.is_relation else None
    return getattr(getattr(target, "_meta", None), "label_lower", str(target or ""))
