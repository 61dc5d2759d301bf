"""Backup settings (PRODUCT.md §2), read when called so tests and operators can change them."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

COMPRESSIONS = ("none", "gzip")


def backup_dir() -> Path:
    """Where dumps and their manifests live (`BACKUP_DIR`)."""
    return Path(getattr(settings, "BACKUP_DIR", Path(settings.BASE_DIR) / "backups"))


def export_dir() -> Path:
    """Where CSV exports are written (`EXPORT_DIR`)."""
    return Path(getattr(settings, "EXPORT_DIR", Path(settings.BASE_DIR) / "exports"))


def retention() -> int:
    """How many unpinned successful backups rotation keeps (`BACKUP_RETENTION`)."""
    value = int(getattr(settings, "BACKUP_RETENTION", 10))
    if value < 1:
        raise ImproperlyConfigured(f"BACKUP_RETENTION must be at least 1, not {value}.")
    return value


def compression() -> str:
    """`none` (plain .sql) or `gzip` (.sql.gz) (`BACKUP_COMPRESSION`)."""
    value = str(getattr(settings, "BACKUP_COMPRESSION", "none")).lower()
    if value not in COMPRESSIONS:
        raise ImproperlyConfigured(
            f"BACKUP_COMPRESSION={value!r} is not supported: use one of {', '.join(COMPRESSIONS)}."
        )
    return value


def debounce_seconds() -> float:
    """Quiet time after the newest signup before an automatic backup runs."""
    return _non_negative("BACKUP_DEBOUNCE_SECONDS", 5)


def max_delay_seconds() -> float:
    """The longest the oldest uncovered signup waits for an automatic backup."""
    return _non_negative("BACKUP_MAX_DELAY_SECONDS", 60)


def rpo_seconds() -> float:
    """The recovery-point objective the health check enforces."""
    return _non_negative("BACKUP_RPO_SECONDS", 300)


def api_token() -> str | None:
    """The bearer token for the backup API, or None when token auth is off."""
    return getattr(settings, "BACKUP_API_TOKEN", None) or None


def _non_negative(name: str, default: float) -> float:
    value = float(getattr(settings, name, default))
    if value < 0:
        raise ImproperlyConfigured(f"{name} must not be negative, not {value}.")
    return value
