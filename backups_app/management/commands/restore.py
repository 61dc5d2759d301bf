"""`manage.py restore`: put a backup back (whole, or only the missing signups)."""

from django.core.management.base import CommandError

from backups_app.management.base import BackupCommand
from backups_app.services import (
    RestorePreview,
    backup_diff,
    backup_merge,
    backup_restore,
    backup_restore_preview,
)


class Command(BackupCommand):
    signing_key_option = True
    confirm_option = True
    help = (
        "Restore a backup over the live database (a pinned pre_restore backup is taken first). "
        "Signups the backup lacks are kept and staff accounts stay as they are, unless --exact "
        "or --include-accounts. --merge only re-inserts missing signups; --diff shows what it "
        "would."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", help="A backup name from listbackups, or its path.")
        super().add_arguments(parser)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--merge", action="store_true", help="Re-insert missing signups, keep everything newer."
        )
        mode.add_argument(
            "--diff", action="store_true", help="Show what --merge would add; change nothing."
        )
        mode.add_argument(
            "--exact",
            action="store_true",
            help="Point-in-time restore: also REMOVE the signups the backup lacks.",
        )
        parser.add_argument(
            "--include-accounts",
            action="store_true",
            help="Also replace staff accounts and sessions with the backup's.",
        )
        parser.add_argument(
            "--no-replay",
            action="store_true",
            help="Do not replay the signup journal afterwards (it is replayed by default, "
            "except with --exact).",
        )

    def handle(self, *args, **options) -> None:
        name = options["backup"]
        keys = self.signing_keys(options)
        if options["include_accounts"] and (options["merge"] or options["diff"]):
            raise CommandError("--include-accounts goes with a full restore, not --merge/--diff.")
        if options["diff"]:
            result = backup_diff(name=name, signing_keys=keys)
            self.emit(result.as_dict(), self._merge_text(result, "would re-insert"))
            return
        confirmed = None
        if not options["yes"]:
            # Refused before the preview, which may restore the backup into a scratch database.
            self.require_terminal("restore")
            # What a person confirms is read from the checked backup; with --yes the service's
            # own checks are the only ones: checking a large dump twice doubled their cost.
            preview = backup_restore_preview(
                name=name, signing_keys=keys, compare=not options["merge"]
            )
            name = preview.name
            confirmed = self._confirm(preview, options)
        if options["merge"]:
            result = backup_merge(name=name, triggered_by=self.who(), signing_keys=keys)
            text = self._merge_text(result, "re-inserted")
            text += f"\nThe data before the merge is in {result.safety_backup}."
            self.emit(result.as_dict(), text)
            return
        result = backup_restore(
            name=name,
            triggered_by=self.who(),
            exact=options["exact"],
            exact_confirmed=confirmed.exact_confirmation() if confirmed else None,
            include_accounts=options["include_accounts"],
            signing_keys=keys,
            replay=not options["no_replay"],
        )
        counts = ", ".join(f"{t}={n}" for t, n in sorted(result.row_counts.items()))
        if result.exact:
            later = f"{result.signups_removed} signup(s) the backup lacked were removed (--exact)"
        else:
            later = f"{result.signups_kept} signup(s) the backup lacked were kept"
        accounts = (
            "staff accounts and sessions were kept as they were"
            if result.accounts_kept
            else "staff accounts and sessions are the backup's"
        )
        erased = ""
        if result.signups_kept_erased:
            erased = (
                f"{result.signups_kept_erased} signup(s) of erased fans in the backup stayed "
                "erased.\n"
            )
        dropped = ""
        if result.tables_dropped:
            dropped = "Dropped as newer than the backup: " + self._tables(result.tables_dropped)
            dropped += ".\n"
        self.emit(
            result.as_dict(),
            f"Restored {result.name} in {result.seconds:.2f} s; row counts verified ({counts}).\n"
            f"{later}; {accounts}.\n{erased}{dropped}"
            + (f"Signup journal: {result.journal_summary()}\n" if result.journal_summary() else "")
            + f"The data before the restore is in {result.safety_backup} (pinned).",
        )
        if result.journal_error and not result.exact:
            raise CommandError(
                f"The restore succeeded, but {result.journal_error}. Fix that, then run "
                "`manage.py replay_journal`."
            )

    def _confirm(self, preview: RestorePreview, options: dict) -> RestorePreview | None:
        """Ask on the terminal; for --exact, return the preview whose removals were confirmed."""
        self.stdout.write(f"Backup {preview.name} (taken {preview.created_at}).")
        if options["merge"]:
            self.stdout.write(
                "This will re-insert the signups it has that the live table lacks, and change "
                "nothing else. A pinned safety backup is taken first."
            )
        else:
            self.stdout.write(self._preview_text(preview, options))
            if preview.tables_newer:
                self.stdout.write(
                    "- Tables newer than the backup will be DROPPED (their rows stay in the "
                    f"safety backup): {self._tables(preview.tables_newer)}."
                )
        if options["exact"] and preview.later:
            self.ask_to_type(
                f"Type the number of signups to remove to confirm ({preview.later}): ",
                str(preview.later),
            )
            return preview
        self.ask_to_type(f"Type the backup's name to confirm ({preview.name}): ", preview.name)
        return preview if options["exact"] else None

    @staticmethod
    def _preview_text(preview, options: dict) -> str:
        lines = [
            f"The backup holds {preview.backup_signups} signup(s); the live table has "
            f"{preview.live_signups}.",
            f"- {preview.brought_back} signup(s) in the backup and missing now will come back; "
            "every signup the backup holds gets its backed-up values.",
        ]
        if options["exact"]:
            lines.append(
                f"- {preview.later} live signup(s) the backup lacks will be REMOVED (--exact)."
            )
        else:
            lines.append(
                f"- {preview.later} live signup(s) the backup lacks will be kept, and so will "
                "any that arrive while the restore runs."
            )
        if preview.kept_erased:
            lines.append(
                f"- {preview.kept_erased} signup(s) in the backup belong to fans erased since; "
                "they stay erased."
            )
        lines.append(
            "- Staff accounts and sessions will be replaced by the backup's (--include-accounts)."
            if options["include_accounts"]
            else "- Staff accounts, sessions, the catalogue and the ledgers stay as they are."
        )
        lines.append("A pinned safety backup of the current data is taken first.")
        return "\n".join(lines)

    @staticmethod
    def _tables(counts: dict[str, int]) -> str:
        return ", ".join(f"{table} ({rows} rows)" for table, rows in sorted(counts.items()))

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
        if result.kept_erased:
            lines.append(
                f"{result.kept_erased} signup(s) of erased fans in the backup stay erased."
            )
        return "\n".join(lines)
