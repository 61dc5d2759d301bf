"""Bench-only app: switches the automatic-backup trigger off, to measure what it costs."""

from django.apps import AppConfig
from django.db.models.signals import post_save


class NoTriggerConfig(AppConfig):
    name = "bench"
    label = "bench_no_trigger"

    def ready(self) -> None:
        from waitlist.models import Signup

        post_save.disconnect(sender=Signup, dispatch_uid="waitlist.queue_backup_after_signup")
