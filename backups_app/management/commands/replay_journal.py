"""`manage.py replay_journal`: put back journalled signups the table lost (§11)."""

from backups_app.management.base import BackupCommand
from backups_app.selectors import backup_get
from backups_app.services.journal import journal_replay


class Command(BackupCommand):
    signing_key_option = True
    help = (
        "Insert the signups the journal holds and the table lacks (after a DROP, TRUNCATE or "
        "DELETE outside the app). Idempotent: running it twice inserts nothing more."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--since",
            metavar="BACKUP",
            help="Only read entries past this backup's journal position (the rest is in it).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be inserted; insert nothing."
        )

    def handle(self, *args, **options) -> None:
        since = backup_get(name=options["since"]) if options["since"] else None
        report = journal_replay(
            since=since,
            dry_run=options["dry_run"],
            extra_keys=self.signing_keys(options),
        )
        lines = [report.summary()]
        lines += [f"  damaged: {damage}" for damage in report.damage]
        self.emit(report.as_dict(), "\n".join(lines))
