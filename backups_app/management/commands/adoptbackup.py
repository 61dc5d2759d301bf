"""`manage.py adoptbackup`: sign an unsigned backup you know this site wrote (§8.2)."""

import sys

from django.core.management.base import CommandError

from backups_app.management.base import BackupCommand
from backups_app.services.adopt import backup_adopt


class Command(BackupCommand):
    help = (
        "Sign an unsigned backup (one taken before signatures existed) with the current key, "
        "after checking it against its manifest. Only adopt a backup you know where it came "
        "from: a signed backup is trusted by restore."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("backup", help="A backup name from the backup folder.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, **options) -> None:
        name = options["backup"]
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("Confirm with --yes (no terminal to ask on).")
            answer = input(f"Sign {name} as a backup this site wrote? Type 'yes': ")
            if answer.strip() != "yes":
                raise CommandError("Not adopted.")
        backup = backup_adopt(name=name, adopted_by=self.who())
        self.emit(
            {"adopted": backup.name},
            f"{backup.name} is signed with the current key; restore and verify accept it now.",
        )
