"""`manage.py restore`: put a backup back (whole, or only the missing signups)."""

import sys

from django.core.management.base import CommandError

from backups_app.engines import get_engine
from backups_app.management.base import BackupCommand
from backups_app.services import backup_diff, backup_merge, backup_restore
from backups_app.services.restore import checked_backup


class Command(BackupCommand):
    help = (
        "Restore a backup over the live database (a pinned pre_restore backup is taken first). "
        "--merge only re-inserts signups missing from the live table; --diff shows what it would."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("backup", help="A backup name from listbackups, or its path.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--merge", action="store_true", help="Re-insert missing signups, keep everything newer."
        )
        mode.add_argument(
            "--diff", action="store_true", help="Show what --merge would add; change nothing."
        )

    def handle(self, *args, **options) -> None:
        name = options["backup"]
        if options["diff"]:
            result = backup_diff(name=name)
            self.emit(result.as_dict(), self._merge_text(result, "would re-insert"))
            return
        dump, manifest = checked_backup(name, get_engine())
        if not options["yes"]:
            self._confirm(dump.name, manifest, merge=options["merge"])
        if options["merge"]:
            result = backup_merge(name=dump.name, triggered_by=self.who())
            text = self._merge_text(result, "re-inserted")
            text += f"\nThe data before the merge is in {result.safety_backup}."
            self.emit(result.as_dict(), text)
            return
        result = backup_restore(name=dump.name, triggered_by=self.who())
        counts = ", ".join(f"{t}={n}" for t, n in sorted(result.row_counts.items()))
        self.emit(
            result.as_dict(),
            f"Restored {result.name} in {result.seconds:.2f} s; row counts verified ({counts}).\n"
            f"The data before the restore is in {result.safety_backup} (pinned).",
        )

    def _confirm(self, name: str, manifest: dict, *, merge: bool) -> None:
        if not sys.stdin.isatty():
            raise CommandError(
                "Refusing to restore without confirmation: there is no terminal to ask on. "
                "Run again with --yes."
            )
        action = (
            "re-insert the signups it has that the live table lacks"
            if merge
            else "REPLACE ALL CURRENT DATA with it"
        )
        self.stdout.write(
            f"Backup {name} (taken {manifest.get('created_at')}, "
            f"{manifest.get('row_counts', {})} rows by table).\n"
            f"This will {action}. A pinned safety backup is taken first."
        )
        answer = input(f"Type the backup's name to confirm ({name}): ").strip()
        if answer != name:
            raise CommandError("Not confirmed; nothing was changed.")

    @staticmethod
    def _merge_text(result, verb: str) -> str:
        count = result.inserted if verb == "re-inserted" else result.missing
        lines = [f"{result.name}: {verb} {count} signup(s) missing from the live table."]
        lines += [
            f"  #{row['id']} {row['full_name']} <{row['email']}> {row['created_at']}"
            for row in result.sample
        ]
        if result.missing > len(result.sample):
            lines.append(f"  … and {result.missing - len(result.sample)} more")
        return "\n".join(lines)
