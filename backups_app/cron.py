"""The jobs `manage.py crontab add` installs (CRONJOBS in settings). Each is one service call.

Without cron (`make run`), `backup_worker` does the queue and the schedule itself.
"""

from backups_app.alerts import logger
from backups_app.services import (
    backup_restore_test_latest,
    backup_rotate,
    backup_scheduled_run,
    backup_worker_pass,
    waitlist_export_csv,
)


def backup_queue() -> None:
    """Every minute: what `backup_worker --once` does."""
    result = backup_worker_pass()
    logger.info(
        "cron queue pass action=%s pending=%d %s", result.action, result.pending, result.detail
    )


def backup_scheduled() -> None:
    """Hourly: a scheduled backup once the newest is older than BACKUP_SCHEDULE_SECONDS."""
    backup_scheduled_run()


def backup_rotation() -> None:
    backup_rotate()


def backup_daily_restore_test() -> None:
    """Daily: prove the newest backup restores (the result and its time are recorded)."""
    backup_restore_test_latest()


def weekly_export() -> None:
    """Weekly: a CSV copy of every signup in EXPORT_DIR, for redundancy."""
    waitlist_export_csv(triggered_by="cron")
