"""`manage.py review_migration APP MIGRATION --reason "…"`: mark a risky migration reviewed.

Writes `reviewed = {"sha256": …, "reason": …}` into the migration; editing the file voids it.
"""

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader

from backups_app.management.base import BackupCommand
from backups_app.migration_safety.review import review_of, write_review


class Command(BackupCommand):
    help = (
        "Record that a risky migration was reviewed, with the reason. The marker is bound to "
        "the migration's content: any later edit voids it."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("app_label")
        parser.add_argument("migration_name", help="The migration's name or a unique prefix.")
        parser.add_argument("--reason", required=True, help="Why its risk is acceptable.")

    def handle(self, *args, **options) -> None:
        loader = MigrationLoader(connections["default"], ignore_no_migrations=True, load=True)
        app_label, prefix = options["app_label"], options["migration_name"]
        try:
            migration = loader.get_migration_by_prefix(app_label, prefix)
        except AmbiguityError as err:
            raise ValidationError(
                f"More than one migration of {app_label} matches '{prefix}'."
            ) from err
        except KeyError as err:
            raise ValidationError(f"No migration of {app_label} matches '{prefix}'.") from err
        path = write_review(migration, reason=options["reason"])
        # Read back what was written, as migrate will.
        loader = MigrationLoader(connections["default"], ignore_no_migrations=True, load=True)
        review = review_of(loader.get_migration(app_label, migration.name))
        self.emit(
            {
                "migration": f"{app_label}.{migration.name}",
                "file": str(path),
                "review": review.status,
            },
            f"Marked {app_label}.{migration.name} reviewed in {path}.\n"
            "Commit it with the migration; editing the migration voids the review.",
            ok=review.valid,
        )
