"""`manage.py review_migration APP MIGRATION --reason "…"`: mark a risky migration reviewed.

Writes `reviewed = {"sha256": …, "reason": …}` into the migration; editing the file voids it.
"""

from backups_app.management.base import BackupCommand
from backups_app.migration_safety.review import review_record


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
        label, path, review = review_record(
            app_label=options["app_label"],
            migration_name=options["migration_name"],
            reason=options["reason"],
        )
        self.emit(
            {"migration": label, "file": str(path), "review": review.status},
            f"Marked {label} reviewed in {path}.\n"
            "Commit it with the migration; editing the migration voids the review.",
            ok=review.valid,
        )
