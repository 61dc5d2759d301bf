"""`manage.py export_csv`: every signup to a CSV file."""

from pathlib import Path

from backups_app.humanize import human_size
from backups_app.management.base import BackupCommand
from backups_app.services import waitlist_export_csv


class Command(BackupCommand):
    help = "Export every signup to EXPORT_DIR/waitlist-export-<UTC timestamp>.csv (UTF-8)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--output", help="Write here instead (a file, or a folder).")

    def handle(self, *args, **options) -> None:
        output = Path(options["output"]) if options["output"] else None
        export = waitlist_export_csv(path=output, triggered_by=self.who())
        self.emit(
            {
                "name": export.name,
                "path": export.path,
                "row_count": export.row_count,
                "size_bytes": export.size_bytes,
                "sha256": export.sha256,
            },
            f"Exported {export.row_count} signups to {export.path} "
            f"({human_size(export.size_bytes)}).",
        )
