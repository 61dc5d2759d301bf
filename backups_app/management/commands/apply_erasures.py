"""`manage.py apply_erasures`: remove from the table every signup the erasure ledger covers."""

from backups_app.management.base import BackupCommand
from backups_app.services.erasure import erasures_apply


class Command(BackupCommand):
    help = (
        "Remove the signups of erased fans from the table, as every restore does: run it after "
        "an emergency restore with psql or sqlite3. Also names the backups taken before the "
        "newest erasure, which may still hold erased fans' data until rotation."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="Only count; remove nothing.")

    def handle(self, *args, **options) -> None:
        sweep = erasures_apply(dry_run=options["dry_run"], triggered_by=self.who())
        self.emit(sweep.as_dict(), sweep.summary())
