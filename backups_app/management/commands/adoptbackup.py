"""`manage.py adoptbackup`: sign an unsigned backup you know this site wrote (§8.2)."""

from backups_app.management.base import BackupCommand
from backups_app.services.adopt import backup_adopt


class Command(BackupCommand):
    help = (
        "Sign an unsigned backup (one taken before signatures existed) with the current key, "
        "after checking it against its manifest. Only adopt a backup you know where it came "
        "from: a signed backup is trusted by restore."
    )

    confirm_option = True

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", help="A backup name from the backup folder.")
        super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        name = options["backup"]
        if not options["yes"]:
            self.require_terminal("adopt a backup")
            self.ask_to_type(f"Sign {name} as a backup this site wrote? Type 'yes': ", "yes")
        backup = backup_adopt(name=name, adopted_by=self.who())
        self.emit(
            {"adopted": backup.name},
            f"{backup.name} is signed with the current key; restore and verify accept it now.",
        )
