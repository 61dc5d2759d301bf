"""`manage.py rotatebackups`: apply the retention policy."""

import argparse

from backups_app import conf
from backups_app.management.base import BackupCommand
from backups_app.services import backup_rotate


class Command(BackupCommand):
    help = "Delete backups beyond BACKUP_RETENTION (never pinned, newest verified, pre-shrink)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="Only show what would go.")
        parser.add_argument(
            "--keep", type=_at_least_one, help="Override BACKUP_RETENTION for this run."
        )

    def handle(self, *args, **options) -> None:
        keep = options["keep"] if options["keep"] is not None else conf.retention()
        doomed = backup_rotate(keep=keep, dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        lines = [f"{verb} {len(doomed)} backup(s), keeping the newest {keep} unpinned."]
        lines += [f"  {b.name} ({b.kind})" for b in doomed]
        self.emit(
            {"dry_run": options["dry_run"], "keep": keep, "deleted": [b.name for b in doomed]},
            "\n".join(lines),
        )


def _at_least_one(value: str) -> int:
    try:
        keep = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number, not {value!r}") from None
    if keep < 1:
        raise argparse.ArgumentTypeError("keep at least one backup")
    return keep
