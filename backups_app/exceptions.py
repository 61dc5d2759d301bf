"""The backup app's errors. Commands turn them into CommandError, admin into message_user."""

from django.core.exceptions import ValidationError


class BackupError(Exception):
    """Something about a backup, restore or verification went wrong."""


class DumpError(BackupError):
    """The dump could not be taken."""


class RestoreError(BackupError):
    """A restore could not be done; the live data is unchanged."""


class VerificationError(BackupError):
    """A backup file is missing, damaged, or does not match its manifest."""


class EngineNotSupported(BackupError):
    """The database engine has no backup engine."""


class BackupBusy(BackupError):
    """Another backup or restore holds the lock."""


class MigrationRiskRefused(BackupError):
    """A migration was refused because it could destroy data."""


class MigrationTargetError(ValidationError):
    """`migrate`'s app or migration does not resolve, or the migration graph is inconsistent:
    left to Django's own migrate, which explains it best."""
