"""System checks for the backup settings, so a typo is reported at start-up, not at 3 a.m."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from backups_app import conf


@register()
def check_backup_settings(app_configs, **kwargs) -> list[Error]:
    errors = []
    for read in (
        conf.retention,
        conf.export_retention,
        conf.compression,
        conf.debounce_seconds,
        conf.max_delay_seconds,
        conf.rpo_seconds,
        conf.lock_timeout_seconds,
        conf.shrink_threshold,
        conf.schedule_seconds,
        conf.retry_base_seconds,
        conf.retry_max_seconds,
        conf.restore_test_seconds,
    ):
        try:
            read()
        except (ImproperlyConfigured, TypeError, ValueError) as err:
            errors.append(Error(str(err), id="backups_app.E001"))
    return errors
