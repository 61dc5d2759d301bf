"""`manage.py listbackups`: the backup catalogue."""

from django.core.management import CommandError
from django.utils import timezone

from backups_app.humanize import human_age, human_size
from backups_app.management.base import BackupCommand
from backups_app.selectors import backup_list, backup_summary
from backups_app.services import backup_catalogue_sync
from backups_app.services.offsite import backup_offsite_rebuild
from waitlist.models import Signup


class Command(BackupCommand):
    signing_key_option = True
    help = (
        "List the backups and where each lives; --sync first rebuilds the catalogue from the "
        "manifests on disk, and --sync --offsite from the off-site ones too."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--sync", action="store_true", help="Rebuild the catalogue from BACKUP_DIR first."
        )
        parser.add_argument(
            "--offsite",
            action="store_true",
            help="With --sync, also rebuild it from the off-site manifests (the server is gone).",
        )

    def handle(self, *args, **options) -> None:
        if options["offsite"] and not options["sync"]:
            raise CommandError("--offsite goes with --sync: listbackups --sync --offsite.")
        keys = self.signing_keys(options)
        sync = offsite_sync = None
        if options["offsite"]:
            rebuilt = backup_offsite_rebuild(signing_keys=keys)
            sync, offsite_sync = rebuilt.local, rebuilt.offsite
        elif options["sync"]:
            sync = backup_catalogue_sync(signing_keys=keys)
        backups = backup_list()
        lines = []
        if sync is not None:
            lines.append(
                f"Synced with disk: {len(sync.added)} added, {len(sync.removed)} removed, "
                f"{len(sync.interrupted)} marked interrupted, "
                f"{len(sync.unreadable)} unreadable manifests."
            )
            if sync.leftovers.busy:
                lines.append("A backup or restore is running: leftovers are cleared up later.")
            elif sync.leftovers.found:
                lines.append(
                    f"Cleared up after killed operations: {len(sync.leftovers.files)} files, "
                    f"{len(sync.leftovers.scratch)} scratch databases or folders."
                )
        if offsite_sync is not None:
            lines.append(
                f"Synced with off-site: {len(offsite_sync.added)} added, "
                f"{len(offsite_sync.updated)} marked off-site, "
                f"{len(offsite_sync.removed)} no longer off-site, "
                f"{len(offsite_sync.unreadable)} unreadable manifests; "
                f"{len(rebuilt.journal_fetched)} signup journal segments fetched."
            )
        if not backups:
            lines.append("No backups yet. Take one with: manage.py backup")
        else:
            lines.append(
                f"{'NAME':<42} {'KIND':<13} {'STATUS':<9} {'AGE':<16} {'SIZE':>9} "
                f"{'SIGNUPS':>8}  {'WHERE':<8}  VERIFIED  PINNED"
            )
            now = timezone.now()
            signup_table = Signup._meta.db_table
            for b in backups:
                verified = {True: "yes", False: "FAILED", None: "-"}[b.verification_ok]
                signups = b.row_counts.get(signup_table, "-") if b.row_counts else "-"
                lines.append(
                    f"{b.name:<42} {b.kind:<13} {b.status:<9} "
                    f"{human_age(b.started_at, now):<16} "
                    f"{human_size(b.size_bytes):>9} {signups!s:>8}  {b.location or '-':<8}  "
                    f"{verified:<8}  "
                    f"{'yes' if b.pinned else '-'}" + ("  SHRANK" if b.shrink_detected else "")
                )
        document = {"backups": [backup_summary(backup=b) for b in backups]}
        if sync is not None:
            document["sync"] = sync.as_dict()
        if offsite_sync is not None:
            document["offsite_sync"] = offsite_sync.as_dict()
            document["journal_fetched"] = rebuilt.journal_fetched
        self.emit(document, "\n".join(lines))
