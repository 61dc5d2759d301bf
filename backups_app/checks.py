"""System checks for the backup settings, so a typo is reported at start-up, not at 3 a.m."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from backups_app import conf, keys

#: Each backup setting's reader, and its own check id (so a silenced or grepped id means one
#: setting, not all of them). E002-E004 are the keys and MIGRATION_LOCK_TIMEOUT below.
SETTING_CHECKS = (
    (conf.retention, "E001"),  # BACKUP_RETENTION
    (conf.export_retention, "E010"),
    (conf.compression, "E011"),
    (conf.debounce_seconds, "E012"),
    (conf.max_delay_seconds, "E013"),
    (conf.rpo_seconds, "E014"),
    (conf.lock_timeout_seconds, "E015"),
    (conf.shrink_threshold, "E016"),
    (conf.schedule_seconds, "E017"),
    (conf.retry_base_seconds, "E018"),
    (conf.retry_max_seconds, "E019"),
    (conf.restore_test_seconds, "E020"),
    (conf.journal_flush_mode, "E021"),
)


@register()
def check_backup_settings(app_configs, **kwargs) -> list[Error]:
    errors = []
    for read, check_id in SETTING_CHECKS:
        try:
            read()
        except (ImproperlyConfigured, TypeError, ValueError) as err:
            errors.append(Error(str(err), id=f"backups_app.{check_id}"))
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
