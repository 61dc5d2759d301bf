"""What `migrate [app_label] [migration_name]` targets, resolved as Django resolves it."""

from django.apps import apps
from django.db.migrations.exceptions import AmbiguityError, InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration

from backups_app.exceptions import MigrationTargetError


def migration_targets(
    executor: MigrationExecutor, app_label: str | None, name: str | None
) -> list[tuple[str, str | None]]:
    """The targets `migrate [app_label] [migration_name]` means, as Django resolves them.

    Refuses (MigrationTargetError) what Django's migrate refuses before applying anything: an
    inconsistent history, conflicting leaf migrations, an unknown app or migration.
    """
    loader = executor.loader
    try:
        loader.check_consistent_history(executor.connection)
    except InconsistentMigrationHistory as err:
        raise MigrationTargetError(str(err)) from err
    conflicts = loader.detect_conflicts()
    if conflicts:
        apps_in_conflict = ", ".join(sorted(conflicts))
        raise MigrationTargetError(
            f"Conflicting migrations in {apps_in_conflict}; run `manage.py makemigrations --merge`."
        )
    if app_label:
        try:
            apps.get_app_config(app_label)
        except LookupError as err:
            raise MigrationTargetError(str(err)) from err
        if app_label not in loader.migrated_apps:
            raise MigrationTargetError(f"App '{app_label}' does not have migrations.")
    if app_label and name:
        if name == "zero":
            return [(app_label, None)]
        target = (app_label, migration_by_prefix(loader, app_label, name).name)
        if target not in loader.graph.nodes and target in loader.replacements:
            target = loader.replacements[target].replaces[-1]
        return [target]
    if app_label:
        return [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
    return loader.graph.leaf_nodes()


def migration_by_prefix(loader: MigrationLoader, app_label: str, prefix: str) -> Migration:
    """The migration of `app_label` whose name starts with `prefix`, as `migrate` finds it."""
    try:
        return loader.get_migration_by_prefix(app_label, prefix)
    except AmbiguityError as err:
        raise MigrationTargetError(
            f"More than one migration matches '{prefix}' in app '{app_label}'."
        ) from err
    except KeyError as err:
        raise MigrationTargetError(
            f"Cannot find a migration matching '{prefix}' from app '{app_label}'."
        ) from err
