"""What `migrate [app_label] [migration_name]` targets, resolved as Django resolves it."""

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor


class MigrationTargetError(ValidationError):
    """`migrate`'s app label or migration name does not resolve (Django explains it best)."""


def migration_targets(executor: MigrationExecutor, app_label: str | None, name: str | None):
    """The targets `migrate [app_label] [migration_name]` means, as Django resolves them."""
    loader = executor.loader
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


def migration_by_prefix(loader, app_label: str, prefix: str):
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
