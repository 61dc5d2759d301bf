"""`manage.py rotatebackups`: apply the retention policy."""

from backups_app import conf
from backups_app.management.base import BackupCommand
from backups_app.services import backup_rotate


class Command(BackupCommand):
    help = "Delete backups beyond BACKUP_RETENTION (never pinned, newest verified, pre-shrink)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="Only show what would go.")
        parser.add_argument("--keep", type=int, help="Override BACKUP_RETENTION for this run.")

    def handle(self, *args, **options) -> None:
        keep = options["keep"] if options["keep"] is not None else conf.retention()
        doomed = backup_rotate(keep=keep, dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        lines = [f"{verb} {len(doomed)} backup(s), keeping the newest {keep} unpinned."]
        lines += [f"  {b.name} ({b.kind})" for b in doomed]
        self.emit(
            {"dry_run": options["dry_run"], "keep": keep, "deleted": [b.name for b in doomed]},
            "\n".join(lines),
        )
