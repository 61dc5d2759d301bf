"""Backup settings (docs/spec.md §2), read when called so tests and operators can change them."""

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


def lock_timeout_seconds() -> float:
    """How long a backup or restore waits for another one to finish before failing as busy."""
    return _non_negative("BACKUP_LOCK_TIMEOUT_SECONDS", 60)


def migration_lock_timeout() -> float:
    """How long, in seconds, a guarded migration on PostgreSQL waits for a table lock before it
    fails cleanly (`MIGRATION_LOCK_TIMEOUT`, 5; 0 leaves PostgreSQL's own lock_timeout as it is).
    Meanwhile every query on that table queues behind the waiting migration."""
    return _non_negative("MIGRATION_LOCK_TIMEOUT", 5)


def shrink_threshold() -> float:
    """The fraction a table's row count may fall between backups before the shrink guard fires."""
    value = float(getattr(settings, "BACKUP_SHRINK_THRESHOLD", 0.2))
    if not 0 <= value < 1:
        raise ImproperlyConfigured(f"BACKUP_SHRINK_THRESHOLD must be in [0, 1), not {value}.")
    return value


def pg_dump_path() -> str:
    """The pg_dump program (a name on PATH or a path), e.g. a newer major version's."""
    return str(getattr(settings, "BACKUP_PG_DUMP", "pg_dump"))


def psql_path() -> str:
    """The psql program used for restores."""
    return str(getattr(settings, "BACKUP_PSQL", "psql"))


def sqlite3_path() -> str:
    """The sqlite3 shell; when it is missing SQLite dumps fall back to Python (slower)."""
    return str(getattr(settings, "BACKUP_SQLITE3", "sqlite3"))


def shrink_ignored_tables() -> set[str]:
    """Tables whose shrinking is normal (sessions expire, caches, rate-limit windows and our own
    catalogue rotate), plus BACKUP_SHRINK_IGNORE_TABLES."""
    from waitlist.models import RateLimitWindow

    ignored = {"django_session", RateLimitWindow._meta.db_table}
    for cache in settings.CACHES.values():
        if cache.get("BACKEND") == "django.core.cache.backends.db.DatabaseCache":
            ignored.add(cache["LOCATION"])
    ignored.update(getattr(settings, "BACKUP_SHRINK_IGNORE_TABLES", ()))
    return ignored


def schedule_seconds() -> float:
    """A scheduled backup runs when the newest successful one is older than this (one day)."""
    return _non_negative("BACKUP_SCHEDULE_SECONDS", 86400)


def retry_base_seconds() -> float:
    """After a failed automatic backup, the first wait before trying again (it doubles)."""
    return _non_negative("BACKUP_RETRY_BASE_SECONDS", 10)


def retry_max_seconds() -> float:
    """The longest wait between tries after failed automatic backups."""
    return _non_negative("BACKUP_RETRY_MAX_SECONDS", 300)


def restore_test_seconds() -> float:
    """How often the newest backup is proven with a restore test (daily)."""
    return _non_negative("BACKUP_RESTORE_TEST_SECONDS", 86400)


def export_retention() -> int:
    """How many CSV exports in EXPORT_DIR rotation keeps (`EXPORT_RETENTION`)."""
    value = int(getattr(settings, "EXPORT_RETENTION", 10))
    if value < 1:
        raise ImproperlyConfigured(f"EXPORT_RETENTION must be at least 1, not {value}.")
    return value


# --- Signed and encrypted backups (§8.2, §8.3) ------------------------------------------------
def signing_key_texts() -> list[str]:
    """The signing key first (BACKUP_SIGNING_KEY), then keys that only verify older backups
    (BACKUP_SIGNING_OLD_KEYS). Empty when no key is set: the secret key stands in then."""
    primary = getattr(settings, "BACKUP_SIGNING_KEY", None)
    old = getattr(settings, "BACKUP_SIGNING_OLD_KEYS", None) or []
    return [text for text in [primary, *old] if text]


def encryption_key_texts() -> list[str]:
    """The key new backups are encrypted with first (BACKUP_ENCRYPTION_KEY; none means backups
    are not encrypted), then keys that only decrypt older ones (BACKUP_ENCRYPTION_OLD_KEYS)."""
    primary = getattr(settings, "BACKUP_ENCRYPTION_KEY", None)
    old = getattr(settings, "BACKUP_ENCRYPTION_OLD_KEYS", None) or []
    return [primary or "", *[text for text in old if text]]


# --- Off-site copies (§8.1) ------------------------------------------------------------------
OFFSITE_STORAGE_ALIAS = "backups_offsite"


def offsite_enabled() -> bool:
    """Whether STORAGES has the off-site alias (`backups_offsite`)."""
    return OFFSITE_STORAGE_ALIAS in getattr(settings, "STORAGES", {})


def offsite_retention() -> int:
    """How many unpinned backups the off-site store keeps (`BACKUP_OFFSITE_RETENTION`)."""
    value = int(getattr(settings, "BACKUP_OFFSITE_RETENTION", 30))
    if value < 1:
        raise ImproperlyConfigured(f"BACKUP_OFFSITE_RETENTION must be at least 1, not {value}.")
    return value


def offsite_max_lag_seconds() -> float:
    """How long the newest backup may wait to be off-site before health fails."""
    return _non_negative("BACKUP_OFFSITE_MAX_LAG_SECONDS", 900)


def offsite_retry_base_seconds() -> float:
    """After a failed upload, the first wait before trying again (it doubles)."""
    return _non_negative("BACKUP_OFFSITE_RETRY_BASE_SECONDS", 15)


def offsite_retry_max_seconds() -> float:
    """The longest wait between upload tries."""
    return _non_negative("BACKUP_OFFSITE_RETRY_MAX_SECONDS", 900)


# --- Signup journal (§11) ----------------------------------------------------------------------
def journal_enabled() -> bool:
    """Whether every committed signup is also appended to BACKUP_DIR/journal (`BACKUP_JOURNAL`)."""
    return bool(getattr(settings, "BACKUP_JOURNAL", True))


#: BACKUP_JOURNAL_FSYNC: when an entry's fdatasync runs (see docs/signup-journal.md).
JOURNAL_FLUSH_MODES = ("wait", "background", "off")


def journal_flush_mode() -> str:
    """When each journal entry is made durable (`BACKUP_JOURNAL_FSYNC`):

    - `wait` (the default): the thanks page waits for the flush, which overlaps the end of the
      request (`1`, `true` and `on` mean this too);
    - `background`: the entry is written before the thanks page and flushed by a helper thread
      at once (at most every 50 ms), without the fan waiting for the disk;
    - `off`: never flushed (`0`, `false`): an entry survives any crash of the web process but
      not a power cut or a kernel crash.
    """
    value = getattr(settings, "BACKUP_JOURNAL_FSYNC", "wait")
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return "wait"
    if text in ("0", "false", "no", "off", "none"):
        return "off"
    if text not in JOURNAL_FLUSH_MODES:
        raise ImproperlyConfigured(
            f"BACKUP_JOURNAL_FSYNC must be one of {', '.join(JOURNAL_FLUSH_MODES)}, not {value!r}."
        )
    return text


def journal_dir() -> Path:
    """Where the journal's segments live: BACKUP_DIR/journal."""
    return backup_dir() / "journal"


def auto_bytes_per_hour() -> float:
    """With the journal on, how many bytes automatic backups after signups may write per hour
    (`BACKUP_AUTO_BYTES_PER_HOUR`, 16 GiB; 0 turns the spacing off). See
    selectors.spacing_wait_until."""
    return _non_negative("BACKUP_AUTO_BYTES_PER_HOUR", 16 * 1024**3)


def journal_ship_seconds() -> float:
    """How often a journal segment still being written is copied off-site again as it grows
    (`BACKUP_JOURNAL_SHIP_SECONDS`); a finished segment is copied at the next worker pass."""
    return _non_negative("BACKUP_JOURNAL_SHIP_SECONDS", 60)
