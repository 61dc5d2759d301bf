from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "tests.migration_lab"
    label = "migration_lab"
    default_auto_field = "django.db.models.AutoField"
