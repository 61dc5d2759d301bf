"""Recording a migration review (§7): `manage.py review_migration` marks a risky migration
reviewed, so the guarded `migrate` lets it through.

The marker's format and hash are `migration_safety.review`'s; this service finds the migration,
refuses installed packages' migrations, writes the marker, and reads it back the way `migrate`
will. It reloads the migration's module to do that, which is why it is not part of a
schema change: it touches no database and no ledger.
"""

import importlib
import sys
from pathlib import Path

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.migrations.loader import MigrationLoader

from backups_app.migration_safety.review import Review, migration_file, review_of, write_review
from backups_app.migration_safety.targets import migration_by_prefix


def migration_review_record(
    *, app_label: str, migration_name: str, reason: str
) -> tuple[str, Path, Review]:
    """Mark a migration reviewed (`migration_name` may be a prefix): write the marker into its
    file and return its label, the file, and the review as `migrate` will read it. Raises
    ValidationError for an unknown migration, a blank reason, or a file it cannot mark."""
    try:
        apps.get_app_config(app_label)
    except LookupError as err:
        raise ValidationError(str(err)) from err
    loader = MigrationLoader(None, ignore_no_migrations=True)  # the files alone, no database
    migration = migration_by_prefix(loader, app_label, migration_name)
    source = migration_file(migration)
    installed = {"site-packages", "dist-packages"} & set(source.parts)
    if installed or type(migration).__module__.startswith("django."):
        raise ValidationError(
            f"{app_label}.{migration.name} belongs to an installed package ({source}); only this "
            "project's own migrations are reviewed here (Django's count as reviewed already)."
        )
    path = write_review(migration, reason=reason)
    # The module as loaded holds the old class body; read back what the file now says.
    module = importlib.reload(sys.modules[type(migration).__module__])
    written = module.Migration(migration.name, app_label)
    return f"{app_label}.{migration.name}", path, review_of(written)
