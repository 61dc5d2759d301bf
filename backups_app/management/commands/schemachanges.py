"""`manage.py schemachanges`: the schema-change ledger, for operators without admin."""

import datetime

from backups_app.management.base import BackupCommand
from backups_app.selectors import schema_change_list


class Command(BackupCommand):
    help = "List the guarded migrate runs (the SchemaChange ledger), newest first."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--limit", type=int, default=50, help="How many (default 50).")

    def handle(self, *args, **options) -> None:
        changes = schema_change_list(limit=max(1, options["limit"]))
        lines = ["No guarded migrate run yet."] if not changes else []
        if changes:
            lines.append(
                f"{'ID':>5}  {'STARTED (UTC)':<19}  {'OUTCOME':<11}  {'RISK':<6}  "
                f"{'BACKUP':<34}  MIGRATIONS / REASON"
            )
        for change in changes:
            started = change.started_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
            shown = ", ".join(change.migrations[:2]) + (
                f" (+{len(change.migrations) - 2})" if len(change.migrations) > 2 else ""
            )
            lines.append(
                f"{change.pk:>5}  {started:<19}  {change.outcome:<11}  {change.risk:<6}  "
                f"{change.backup_name or '-':<34}  {shown}"
            )
            if change.reason:
                lines.append(
                    f"{'':>5}  {'':<19}  {'':<11}  {'':<6}  {'':<34}  why: {change.reason[:80]}"
                )
        document = {
            "schema_changes": [
                {
                    "id": c.pk,
                    "started_at": c.started_at.isoformat(),
                    "finished_at": c.finished_at.isoformat() if c.finished_at else None,
                    "outcome": c.outcome,
                    "risk": c.risk,
                    "migrations": c.migrations,
                    "backup": c.backup_name,
                    "reason": c.reason,
                    "triggered_by": c.triggered_by,
                    "error": c.error,
                    "rollback_detail": c.rollback_detail,
                }
                for c in changes
            ]
        }
        self.emit(document, "\n".join(lines))
