"""`manage.py erase_signup EMAIL`: erase a fan for good and record it in the erasure ledger."""

import getpass
import json

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from waitlist.services import signup_erase


class Command(BaseCommand):
    help = (
        "Erase every signup of EMAIL and record the erasure (a keyed hash of the address, when, "
        "who, why), so that no restore, merge or journal replay brings the fan back. An address "
        "that is not on the list is recorded all the same."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The fan's email address (any case).")
        parser.add_argument(
            "--reason", default="", help="Why, without names or addresses (kept in the ledger)."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON document (for scripts)."
        )

    def handle(self, *args, **options) -> None:
        try:
            result = signup_erase(
                email=options["email"], erased_by=_who(), reason=options["reason"]
            )
        except (ValidationError, ImproperlyConfigured, DatabaseError) as err:
            message = "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
            if isinstance(err, DatabaseError):
                message = f"The database failed or cannot be reached: {err}".strip()
            if options["json"]:
                self.stdout.write(json.dumps({"ok": False, "error": message}))
            raise CommandError(message) from err
        if options["json"]:
            self.stdout.write(json.dumps({"ok": True, **result.as_dict()}, indent=2))
        else:
            self.stdout.write(result.summary())


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
