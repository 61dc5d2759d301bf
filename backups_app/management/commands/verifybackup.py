"""`manage.py verifybackup`: prove backups good (checksum, completeness, restore test)."""

from django.core.management.base import CommandError

from backups_app.management.base import BackupCommand
from backups_app.selectors import backup_get, backup_latest, backup_list
from backups_app.services import backup_verify_selected


class Command(BackupCommand):
    signing_key_option = True
    help = "Verify a backup's checksum and completeness; --restore-test also restores it aside."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("backup", nargs="?", help="A backup name (see listbackups).")
        parser.add_argument("--latest", action="store_true", help="The newest backup.")
        parser.add_argument("--all", action="store_true", help="Every successful backup.")
        parser.add_argument(
            "--restore-test",
            action="store_true",
            help="Restore into a scratch database and compare every row count.",
        )

    def handle(self, *args, **options) -> None:
        chosen = [bool(options["backup"]), options["latest"], options["all"]]
        if sum(chosen) != 1:
            raise CommandError("Name one backup, or use --latest or --all.")
        if options["backup"]:
            backups = [backup_get(name=options["backup"])]
        elif options["latest"]:
            backups = [latest] if (latest := backup_latest()) else []
        else:
            backups = backup_list()
        results = backup_verify_selected(
            backups=backups,
            restore_test=options["restore_test"],
            signing_keys=self.signing_keys(options),
        )
        if not results:
            raise CommandError("There is no successful backup to verify.")
        failed = [r for r in results if not r.ok]
        text = "\n".join(f"{'OK  ' if r.ok else 'FAIL'} {r.name}: {r.detail}" for r in results)
        self.emit({"results": [r.as_dict() for r in results]}, text, ok=not failed)
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} backups failed verification.")
