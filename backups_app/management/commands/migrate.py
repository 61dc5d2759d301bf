"""`manage.py migrate`, guarded (§7): classify the plan against the live data first.

Medium risk or higher: a pinned, restore-tested pre_migration backup before anything runs.
High risk: refused unless the migration is reviewed or run with --allow-dangerous --reason.
Every run goes into the SchemaChange ledger.
"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrateCommand

from backups_app.exceptions import (
    BackupError,
    MigrationFailed,
    MigrationRiskRefused,
    MigrationTargetError,
    error_text,
)
from backups_app.management.base import BackupCommand
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.plan import migration_risk_report
from backups_app.services.schema_change import schema_change_run


class Command(DjangoMigrateCommand):
    help = (
        "Updates database schema, guarded: every operation is classified against the live data "
        "first; risky plans get a verified backup, destructive ones are refused without "
        "--allow-dangerous --reason."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--allow-dangerous",
            action="store_true",
            help="Apply high-risk operations anyway (needs --reason; a verified backup is taken).",
        )
        parser.add_argument(
            "--reason", default="", help="Why this change is acceptable; kept in the ledger."
        )

    def handle(self, *args, **options):
        if options["plan"] or options["check_unapplied"] or options["prune"]:
            return super().handle(*args, **options)  # these apply and record nothing
        try:
            report = migration_risk_report(
                database=options["database"],
                app_label=options["app_label"],
                migration_name=options["migration_name"],
            )
        except MigrationTargetError:
            return super().handle(*args, **options)  # Django explains a bad app or migration
        if not report.migrations:
            return super().handle(*args, **options)
        verbosity = options["verbosity"]
        if report.level >= Level.LOW or verbosity >= 2:
            self.stdout.write(report.text())
        elif verbosity >= 1:
            self.stdout.write(
                f"Migration safety: no data at risk ({len(report.operations)} operation(s) "
                "checked)."
            )
        ask = options["interactive"] and sys.stdin.isatty()
        self._running = None  # the migration being applied, for the error if it fails
        try:
            change, result = schema_change_run(
                report=report,
                apply=lambda: super(Command, self).handle(*args, **options),
                reason=options["reason"],
                allow_dangerous=options["allow_dangerous"],
                fake=options["fake"],
                triggered_by=BackupCommand.who(),
                confirm=self._confirm if ask else None,
                announce=self.stdout.write if verbosity >= 1 else None,
            )
        except ValidationError as err:
            raise CommandError(error_text(err)) from err
        except MigrationRiskRefused as err:
            # With the report printed above, the brief refusal; else every detail.
            message = err.brief if verbosity >= 1 else str(err)
            if err.change_id:
                message += f"\nRecorded as schema change #{err.change_id}."
            raise CommandError(message) from err
        except MigrationFailed as err:
            # One line, never a traceback: which migration, the database's words, the ledger.
            if self._running is not None and verbosity >= 1:
                self.stdout.write(self.style.ERROR(" FAILED"))
            where = self._running or "migrate"
            message = f"{where} failed: {err}."
            if err.change_id:
                message += f" Recorded as schema change #{err.change_id}."
            raise CommandError(message) from err
        except BackupError as err:
            raise CommandError(str(err)) from err
        if change.pk and verbosity >= 1:
            self.stdout.write(f"Recorded as schema change #{change.pk}.")
        return result

    def migration_progress_callback(self, action, migration=None, fake=False) -> None:
        if action in ("apply_start", "unapply_start"):
            self._running = f"{migration.app_label}.{migration.name}"
        elif action in ("apply_success", "unapply_success"):
            self._running = None
        super().migration_progress_callback(action, migration, fake)

    def _confirm(self) -> bool:
        self.stdout.write(
            "These operations can destroy data. A verified backup is taken before they run."
        )
        try:
            answer = input("Type 'apply' to apply them anyway: ").strip()
        except (EOFError, KeyboardInterrupt):
            self.stdout.write("")
            return False
        return answer == "apply"
