"""`manage.py rollback_schema_change ID`: restore the backup taken before a schema change."""

from backups_app.management.base import BackupCommand
from backups_app.services.schema_change import (
    schema_change_rollback,
    schema_change_rollback_check,
)


class Command(BackupCommand):
    help = (
        "Undo a schema change from the ledger: restore its verified pre-migration backup (a "
        "safety backup is taken first) and re-insert the signups that arrived since."
    )

    confirm_option = True

    def add_arguments(self, parser) -> None:
        parser.add_argument("change_id", type=int, help="The schema change's number (ledger).")
        super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        change_id = options["change_id"]
        if not options["yes"]:
            self._confirm(change_id)
        result = schema_change_rollback(change_id=change_id, triggered_by=self.who())
        if result.signups_left_behind:
            self.stderr.write(
                self.style.WARNING(
                    "Not every signup that arrived after the backup fits the older schema; the "
                    "others are kept whole in a table of their own (see below)."
                )
            )
        self.emit(
            result.as_dict(),
            f"Schema change #{change_id} rolled back: {result.detail}.\n"
            f"The data as it was before the rollback is in {result.safety_backup} (pinned).",
        )

    def _confirm(self, change_id: int) -> None:
        change = schema_change_rollback_check(change_id=change_id)  # refuse before asking
        self.require_terminal("roll back")
        self.stdout.write(
            f"Schema change #{change.pk} ({', '.join(change.migrations)}), {change.outcome}.\n"
            f"This REPLACES ALL CURRENT DATA with backup {change.backup_name or '(none)'} and "
            "re-inserts the signups that arrived since. A pinned safety backup is taken first."
        )
        self.ask_to_type(f"Type the change number to confirm ({change.pk}): ", str(change.pk))
