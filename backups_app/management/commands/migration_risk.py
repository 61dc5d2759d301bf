"""`manage.py migration_risk`: the guard's report for pending migrations, applying nothing.

Exits non-zero when unreviewed high-risk operations are pending (for CI pipelines).
"""

from django.core.management.base import CommandError
from django.db import connections

from backups_app.management.base import BackupCommand
from backups_app.migration_safety.plan import migration_risk_report


class Command(BackupCommand):
    help = (
        "Show what the pending migrations would do to the live data (read-only). "
        "Exit status 1 when unreviewed high-risk operations are pending."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("app_label", nargs="?", help="Only this app's migrations.")
        parser.add_argument("migration_name", nargs="?", help="Up (or back) to this migration.")
        parser.add_argument(
            "--database", default="default", choices=tuple(connections), help="Which database."
        )

    def handle(self, *args, **options) -> None:
        report = migration_risk_report(
            database=options["database"],
            app_label=options["app_label"],
            migration_name=options["migration_name"],
        )
        pending = report.unreviewed_high
        self.emit(report.as_dict(), report.text(), ok=not pending)
        if pending:
            raise CommandError(
                f"{len(pending)} unreviewed high-risk operation(s) pending: migrate would refuse."
            )
