"""The backup app's errors. Commands turn them into CommandError, admin into message_user."""

from django.core.exceptions import ValidationError


def error_text(err: Exception) -> str:
    """An error as one line for a person: a ValidationError's messages joined, else its text."""
    return "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)


class BackupError(Exception):
    """Something about a backup, restore or verification went wrong."""


class DumpError(BackupError):
    """The dump could not be taken."""


class RestoreError(BackupError):
    """A restore could not be done; the live data is unchanged."""


class VerificationError(BackupError):
    """A backup file is missing, damaged, or does not match its manifest."""


class SignatureError(VerificationError):
    """A backup's manifest is not signed by a key this installation trusts (§8.2)."""


class EngineNotSupported(BackupError):
    """The database engine has no backup engine."""


class BackupBusy(BackupError):
    """Another backup or restore holds the lock."""


class MigrationFailed(BackupError):
    """A guarded migration failed while being applied; the ledger records what ran."""

    def __init__(self, message: str, *, change_id: int | None = None) -> None:
        super().__init__(message)
        #: The ledger entry that records the failure (None before the ledger table exists).
        self.change_id = change_id


class MigrationRiskRefused(BackupError):
    """A migration was refused because it could destroy data."""

    def __init__(self, message: str, *, brief: str = "", change_id: int | None = None) -> None:
        super().__init__(message)
        #: The message without the per-operation details, for a caller that printed the report.
        self.brief = brief or message
        #: The ledger entry that records the refusal (None before the ledger table exists).
        self.change_id = change_id


class MigrationTargetError(ValidationError):
    """`migrate`'s app or migration does not resolve, or the migration graph is inconsistent:
    left to Django's own migrate, which explains it best."""
