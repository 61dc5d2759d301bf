"""Everything about backups, restores, exports and migration safety."""

from django.apps import AppConfig


class BackupsAppConfig(AppConfig):
    name = "backups_app"
    label = "backups_app"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups_app import checks  # noqa: F401  (registers the system checks)
