"""System checks for the backup settings, so a typo is reported at start-up, not at 3 a.m."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from backups_app import conf, keys


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
        conf.journal_flush_mode,
    ):
        try:
            read()
        except (ImproperlyConfigured, TypeError, ValueError) as err:
            errors.append(Error(str(err), id="backups_app.E001"))
    return errors


@register()
def check_migration_lock_timeout(app_configs, **kwargs) -> list[Error]:
    """MIGRATION_LOCK_TIMEOUT is a number of seconds, not negative (0: no limit)."""
    try:
        conf.migration_lock_timeout()
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="0 means no limit.", id="backups_app.E004")]
    except (TypeError, ValueError):
        value = getattr(settings, "MIGRATION_LOCK_TIMEOUT", None)
        return [
            Error(
                f"MIGRATION_LOCK_TIMEOUT must be a number of seconds, not {value!r}.",
                hint="For example 5; 0 means no limit.",
                id="backups_app.E004",
            )
        ]
    return []


@register()
def check_backup_keys(app_configs, **kwargs) -> list[Error]:
    """The signing and encryption keys parse (their text is never echoed)."""
    errors = []
    for read, check_id in ((keys.signing_keyring, "E002"), (keys.encryption_keyring, "E003")):
        try:
            read()
        except ImproperlyConfigured as err:
            errors.append(Error(str(err), id=f"backups_app.{check_id}"))
    return errors


@register(Tags.security, deploy=True)
def check_signing_key_in_production(app_configs, **kwargs) -> list[Warning]:
    """Production should sign backups with a key of its own: one derived from the secret key
    changes (and every backup stops verifying) the day the secret key is rotated."""
    if conf.signing_key_texts():
        return []
    return [
        Warning(
            "BACKUP_SIGNING_KEY is not set: backups are signed with a key derived from "
            "DJANGO_SECRET_KEY, so rotating the secret key makes them unverifiable.",
            hint='Set BACKUP_SIGNING_KEY (python -c "import secrets; '
            'print(secrets.token_urlsafe(32))") and keep a copy off this machine; put the old '
            "derived key in BACKUP_SIGNING_OLD_KEYS as 'secret-key:<old secret>' if needed.",
            id="backups_app.W001",
        )
    ]
