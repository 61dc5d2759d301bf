"""After a signup commits, ask for a backup that will hold it (§4.6). Never dumps here."""

from django.db import transaction

from backups_app.services import backup_request_record


def queue_backup_after_signup(sender, instance, created: bool, using: str, **kwargs) -> None:
    if not created:
        return
    # Only once the signup is committed: a rolled-back signup queues nothing.
    transaction.on_commit(
        lambda: backup_request_record(signup_id=instance.pk, using=using), using=using
    )
