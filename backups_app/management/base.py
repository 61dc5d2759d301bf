"""What every backup command shares: `--json`, `--yes` and the question it skips, and one clear
line for every failure."""

import getpass
import json
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from backups_app.exceptions import BackupError, error_text
from backups_app.keys import signing_key_from_file


class BackupCommand(BaseCommand):
    json_option = True
    #: Commands that read backups accept another installation's signing key (§8.2).
    signing_key_option = False
    #: Commands that change data ask on the terminal first, unless --yes.
    confirm_option = False

    def add_arguments(self, parser) -> None:
        if self.confirm_option:
            parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        if self.json_option:
            parser.add_argument(
                "--json", action="store_true", help="Print one JSON document (for scripts)."
            )
        if self.signing_key_option:
            parser.add_argument(
                "--signing-key-file",
                metavar="PATH",
                help="Also trust backups signed with the key in this file (another "
                "installation's BACKUP_SIGNING_KEY, or 'secret-key:' and its DJANGO_SECRET_KEY).",
            )

    def signing_keys(self, options: dict[str, Any]) -> tuple[bytes, ...]:
        """The extra verification key from --signing-key-file, if one was given."""
        path = options.get("signing_key_file")
        if not path:
            return ()
        try:
            return (signing_key_from_file(path),)
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err

    @staticmethod
    def require_terminal(doing: str) -> None:
        """Refuse before asking when nobody can answer (cron, CI): they must say --yes."""
        if not sys.stdin.isatty():
            raise CommandError(
                f"Refusing to {doing} without confirmation: there is no terminal to ask on. "
                "Run again with --yes."
            )

    def ask_to_type(self, prompt: str, expected: str) -> None:
        """Go on only if the person types `expected`; anything else (Ctrl-D too) changes
        nothing."""
        try:
            answer = input(prompt).strip()
        except (EOFError, KeyboardInterrupt):
            self.stdout.write("")
            answer = None
        if answer != expected:
            raise CommandError("Not confirmed; nothing was changed.")

    def execute(self, *args, **options):
        self.as_json = options.get("json", False)
        self.reported = False
        try:
            return super().execute(*args, **options)
        except (BackupError, ValidationError, OSError, DatabaseError) as err:
            message = error_text(err)
            if isinstance(err, DatabaseError):
                message = f"The database failed or cannot be reached: {err}".strip()
            if self.as_json:
                self.stdout.write(json.dumps({"ok": False, "error": message}))
            raise CommandError(message) from err
        except CommandError as err:
            if self.as_json and not self.reported:
                self.stdout.write(json.dumps({"ok": False, "error": str(err)}))
            raise

    def emit(self, document: dict[str, Any], text: str, *, ok: bool = True) -> None:
        """Print `document` as JSON with --json, else the human-readable `text`."""
        self.reported = True
        if self.as_json:
            self.stdout.write(json.dumps({"ok": ok, **document}, default=str, indent=2))
        else:
            self.stdout.write(text)

    @staticmethod
    def who() -> str:
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            return "cli"
