"""`manage.py review_migration APP MIGRATION --reason "…"`: mark a risky migration reviewed.

Writes `reviewed = {"sha256": …, "reason": …}` into the migration; editing the file voids it.
"""

from django.core.management.base import CommandError

from backups_app.management.base import BackupCommand
from backups_app.services.migration_review import migration_review_record


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
        label, path, review = migration_review_record(
            app_label=options["app_label"],
            migration_name=options["migration_name"],
            reason=options["reason"],
        )
        if not review.valid:
            raise CommandError(
                f"The marker written into {path} does not read back as a valid review; "
                "check the file by hand."
            )
        self.emit(
            {"migration": label, "file": str(path), "review": review.status},
            f"Marked {label} reviewed in {path}.\n"
            "Commit it with the migration; editing the migration voids the review.",
        )
