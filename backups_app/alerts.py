"""Telling people: a grep-able log line for every event, and mail to ADMINS for the bad ones."""

import logging

from django.core.mail import mail_admins

logger = logging.getLogger("backups_app")


def alert_admins(subject: str, message: str) -> None:
    """Log an error and mail it to ADMINS; a broken mail server must not hide the error."""
    logger.error("%s: %s", subject, message)
    try:
        mail_admins(subject, message, fail_silently=False)
    except Exception:
        logger.exception("could not mail ADMINS about: %s", subject)
