"""The public signup app."""

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_delete, post_migrate, post_save


def create_cache_table(*, using: str, **kwargs) -> None:
    """The signup rate limit counts in the database cache: `migrate` must leave its table there.

    `createcachetable` is idempotent and does nothing for cache backends other than the database.
    """
    call_command("createcachetable", database=using, verbosity=0)


class WaitlistConfig(AppConfig):
    name = "waitlist"
    verbose_name = "Waitlist"

    def ready(self) -> None:
        from waitlist import checks  # noqa: F401  (registers the system checks)
        from waitlist.models import Erasure, Signup
        from waitlist.signals import (
            journal_signup_deleted,
            journal_signup_saved,
            queue_backup_after_erasure,
            queue_backup_after_signup,
        )

        # The journal first: a signup is durable in it before anything else runs (§11).
        post_save.connect(
            journal_signup_saved, sender=Signup, dispatch_uid="waitlist.journal_signup_saved"
        )
        post_delete.connect(
            journal_signup_deleted, sender=Signup, dispatch_uid="waitlist.journal_signup_deleted"
        )
        post_save.connect(
            queue_backup_after_signup,
            sender=Signup,
            dispatch_uid="waitlist.queue_backup_after_signup",
        )
        post_save.connect(
            queue_backup_after_erasure,
            sender=Erasure,
            dispatch_uid="waitlist.queue_backup_after_erasure",
        )
        post_migrate.connect(
            create_cache_table, sender=self, dispatch_uid="waitlist.create_cache_table"
        )
