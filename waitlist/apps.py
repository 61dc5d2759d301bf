"""The public signup app."""

from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    name = "waitlist"
    verbose_name = "Waitlist"

    def ready(self) -> None:
        from waitlist import checks  # noqa: F401  (registers the system checks)
