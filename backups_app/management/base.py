"""What every backup command shares: `--json`, and one clear line for every failure."""

import getpass
import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from backups_app.exceptions import BackupError
from backups_app.keys import signing_key_from_file


class BackupCommand(BaseCommand):
    json_option = True
    #: Commands that read backups accept another installation's signing key (§8.2).
    signing_key_option = False

    def add_arguments(self, parser) -> None:
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

    def execute(self, *args, **options):
        self.as_json = options.get("json", False)
        self.reported = False
        try:
            return super().execute(*args, **options)
        except (BackupError, ValidationError, OSError, DatabaseError) as err:
            message = "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
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
