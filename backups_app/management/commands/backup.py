"""`manage.py backup`: take a verified-checksum backup now."""

from backups_app.humanize import human_size
from backups_app.management.base import BackupCommand
from backups_app.models import Backup
from backups_app.selectors import backup_summary
from backups_app.services import backup_create
from waitlist.models import Signup


class Command(BackupCommand):
    help = "Back up the database to BACKUP_DIR now (a dump plus its manifest)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--pin", action="store_true", help="Never rotate this backup away.")
        parser.add_argument("--note", default="", help="A note stored with the backup.")

    def handle(self, *args, **options) -> None:
        backup = backup_create(
            kind=Backup.Kind.MANUAL,
            pin=options["pin"],
            note=options["note"],
            triggered_by=self.who(),
        )
        signups = backup.row_counts.get(Signup._meta.db_table, 0)
        text = (
            f"Backed up {signups} signups to {backup.name} "
            f"({human_size(backup.size_bytes)}, {backup.duration_seconds:.2f} s, "
            f"sha256 {backup.sha256[:12]}…){' [pinned]' if backup.pinned else ''}"
        )
        if backup.shrink_detected:
            text += f"\nWARNING: data shrank since the previous backup: {backup.shrink_detail}"
        self.emit({"backup": backup_summary(backup=backup), "manifest": backup.manifest}, text)
