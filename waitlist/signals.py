"""After a signup commits: journal it, and ask for a backup that will hold it (§11, §4.6).
After an erasure commits: ask for a backup too, so the ledger is backed up within a minute (§12).

Both run in on_commit hooks, so a rolled-back signup leaves no trace, and neither dumps
anything on the signup's request path.
"""

from django.db import transaction

from backups_app.services import backup_request_record
from backups_app.services.journal import (
    journal_record_deletion,
    journal_record_signup,
    signup_row,
)


def journal_signup_saved(sender, instance, using: str, **kwargs) -> None:
    # The row as saved now: a later change to the instance is its own save.
    row = signup_row(signup=instance)
    signup_id = instance.pk
    transaction.on_commit(lambda: journal_record_signup(signup_id=signup_id, row=row), using=using)


def journal_signup_deleted(sender, instance, using: str, **kwargs) -> None:
    signup_id = instance.pk
    transaction.on_commit(lambda: journal_record_deletion(signup_id=signup_id), using=using)


def queue_backup_after_signup(sender, instance, created: bool, using: str, **kwargs) -> None:
    if not created:
        return
    transaction.on_commit(
        lambda: backup_request_record(signup_id=instance.pk, using=using), using=using
    )


def queue_backup_after_erasure(sender, instance, created: bool, using: str, **kwargs) -> None:
    if not created:
        return
    transaction.on_commit(lambda: backup_request_record(signup_id=None, using=using), using=using)
