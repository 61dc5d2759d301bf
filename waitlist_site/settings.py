"""Settings for waitlist-site, read from the environment (docs/spec.md §2).

Every variable is optional in development. With `DJANGO_DEBUG` off (the default) the site is in
production mode: `DJANGO_SECRET_KEY` is required and the HTTPS hardening below is on.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from waitlist_site.offsite_storage import offsite_storage

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` file beside manage.py (or DJANGO_ENV_FILE), if there is one, fills in what the
# environment does not set: cron jobs (CRONJOBS below) start with an empty environment and read
# their settings from it, and `make run` writes a development one on its first run.
environ.Env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str(
        "DJANGO_SECRET_KEY",
        default="django-insecure-dev-only-key-never-use-in-production-0123456789",
    )
else:
    try:
        SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY: it is required when DJANGO_DEBUG is off "
            '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))").'
        ) from None

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_crontab",
    "waitlist.apps.WaitlistConfig",
    "backups_app.apps.BackupsAppConfig",
]

MIDDLEWARE = [
    # First, so that its wait for the journal's flush is the last thing before a response.
    "backups_app.middleware.JournalFlushMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "waitlist_site.urls"
WSGI_APPLICATION = "waitlist_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "waitlist.context_processors.site_event",
            ],
        },
    },
]

# --- Database
# SQLite is the embedded default; PostgreSQL (psycopg 3) is the production engine.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets signups keep committing while a backup reads a consistent snapshot; IMMEDIATE
    # transactions and a busy timeout make concurrent writers queue instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
        }
    )
    # Tests use a file, not memory: backups read the database from other connections. It sits
    # beside the database (db.sqlite3 -> .test-db.sqlite3), so two checkouts never share one.
    _sqlite_name = Path(DATABASES["default"]["NAME"])
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(_sqlite_name.with_name(f".test-{_sqlite_name.name}"))
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache
# Shared by every process: the database by default, so nothing else has to run; any
# django-environ cache URL (e.g. redis://127.0.0.1:6379/1) works. The signup rate limit counts in
# Redis or Memcached when one is set here, else in its own table (waitlist/ratelimit.py).
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://waitlist_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's default of 300 entries culls too eagerly for a busy site.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

# --- Auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise, so DJANGO_DEBUG=0 needs no other web server)
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (on by default in production; each can be turned off for a plain-HTTP setup)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env.bool("DJANGO_BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Mail: backup failures and shrink alerts go to ADMINS
ADMINS = [("", address) for address in env.list("DJANGO_ADMINS", default=[])]
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
SERVER_EMAIL = env.str("DJANGO_SERVER_EMAIL", default="waitlist-site@localhost")
DEFAULT_FROM_EMAIL = SERVER_EMAIL

# --- Logging: one grep-able line per event on stderr
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Replaces Django's default "django" logger, which would print every line twice.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["mail_admins"], "level": "ERROR"},
    },
}

# --- Public signup (waitlist/conf.py reads these when used)
SIGNUP_RATE_LIMIT = env.str("SIGNUP_RATE_LIMIT", default="100/m")
SIGNUP_TRUSTED_PROXY_COUNT = env.int("SIGNUP_TRUSTED_PROXY_COUNT", default=0)

# --- The event fans sign up for: on the public pages, in their titles and in link previews.
# The image is an absolute http(s) URL or a path on this site ("/static/..."); none by default.
WAITLIST_EVENT_NAME = env.str("WAITLIST_EVENT_NAME", default="Our next show")
WAITLIST_EVENT_TAGLINE = env.str(
    "WAITLIST_EVENT_TAGLINE", default="Be the first to hear when tickets open."
)
WAITLIST_EVENT_DETAILS = env.str("WAITLIST_EVENT_DETAILS", default="")
WAITLIST_EVENT_IMAGE_URL = env.str("WAITLIST_EVENT_IMAGE_URL", default="")

# --- Erasure (§12): the erasure ledger keeps only a keyed hash of each erased address. Keep the
# key like DJANGO_SECRET_KEY, outside the database: unset, it is derived from DJANGO_SECRET_KEY
# (`check --deploy` asks for its own). Old keys still match erasures recorded under them.
WAITLIST_ERASURE_KEY = env.str("WAITLIST_ERASURE_KEY", default="") or None
WAITLIST_ERASURE_OLD_KEYS = env.list("WAITLIST_ERASURE_OLD_KEYS", default=[])
# A fan's confirmed request to be erased waits for staff (0), or is carried out at once (1).
WAITLIST_SELF_ERASURE = env.bool("WAITLIST_SELF_ERASURE", default=False)
# How long the link in the confirmation mail works.
WAITLIST_ERASURE_LINK_SECONDS = env.int("WAITLIST_ERASURE_LINK_SECONDS", default=3 * 86400)

# --- Backups (backups_app/conf.py reads these when used)
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(BASE_DIR / "backups")))
EXPORT_DIR = Path(env.str("EXPORT_DIR", default=str(BASE_DIR / "exports")))
BACKUP_RETENTION = env.int("BACKUP_RETENTION", default=10)
EXPORT_RETENTION = env.int("EXPORT_RETENTION", default=10)
BACKUP_COMPRESSION = env.str("BACKUP_COMPRESSION", default="none")
BACKUP_DEBOUNCE_SECONDS = env.float("BACKUP_DEBOUNCE_SECONDS", default=5)
BACKUP_MAX_DELAY_SECONDS = env.float("BACKUP_MAX_DELAY_SECONDS", default=60)
BACKUP_API_TOKEN = env.str("BACKUP_API_TOKEN", default="") or None
BACKUP_RPO_SECONDS = env.float("BACKUP_RPO_SECONDS", default=300)
BACKUP_LOCK_TIMEOUT_SECONDS = env.float("BACKUP_LOCK_TIMEOUT_SECONDS", default=60)
BACKUP_SHRINK_THRESHOLD = env.float("BACKUP_SHRINK_THRESHOLD", default=0.2)
# Seconds a guarded migration waits for a table lock on PostgreSQL before failing (0: no limit).
MIGRATION_LOCK_TIMEOUT = env.float("MIGRATION_LOCK_TIMEOUT", default=5)
# Tables whose shrinking is normal besides sessions, caches and rate-limit windows (always ignored).
BACKUP_SHRINK_IGNORE_TABLES = env.list("BACKUP_SHRINK_IGNORE_TABLES", default=[])
BACKUP_PG_DUMP = env.str("BACKUP_PG_DUMP", default="pg_dump")
BACKUP_PSQL = env.str("BACKUP_PSQL", default="psql")
BACKUP_SQLITE3 = env.str("BACKUP_SQLITE3", default="sqlite3")
BACKUP_SCHEDULE_SECONDS = env.float("BACKUP_SCHEDULE_SECONDS", default=86400)
BACKUP_RETRY_BASE_SECONDS = env.float("BACKUP_RETRY_BASE_SECONDS", default=10)
BACKUP_RETRY_MAX_SECONDS = env.float("BACKUP_RETRY_MAX_SECONDS", default=300)
BACKUP_RESTORE_TEST_SECONDS = env.float("BACKUP_RESTORE_TEST_SECONDS", default=86400)

# --- Signup journal (§11): every committed signup is also appended to BACKUP_DIR/journal and
# made durable before the thanks page, so a dropped table loses nothing since the last backup.
BACKUP_JOURNAL = env.bool("BACKUP_JOURNAL", default=True)
BACKUP_JOURNAL_FSYNC = env.str("BACKUP_JOURNAL_FSYNC", default="wait")
BACKUP_JOURNAL_SHIP_SECONDS = env.float("BACKUP_JOURNAL_SHIP_SECONDS", default=60)
# With the journal on, automatic dumps after signups write at most this many bytes an hour.
BACKUP_AUTO_BYTES_PER_HOUR = env.float("BACKUP_AUTO_BYTES_PER_HOUR", default=16 * 1024**3)

# --- Signed and encrypted backups (§8.2, §8.3): the keys live here, never beside the backups.
# Unset, the signing key is derived from DJANGO_SECRET_KEY (`check --deploy` asks for its own).
# Old keys only verify or decrypt older backups; the first key signs and encrypts.
BACKUP_SIGNING_KEY = env.str("BACKUP_SIGNING_KEY", default="") or None
BACKUP_SIGNING_OLD_KEYS = env.list("BACKUP_SIGNING_OLD_KEYS", default=[])
BACKUP_ENCRYPTION_KEY = env.str("BACKUP_ENCRYPTION_KEY", default="") or None
BACKUP_ENCRYPTION_OLD_KEYS = env.list("BACKUP_ENCRYPTION_OLD_KEYS", default=[])

# --- Off-site copies (§8.1) to any S3-compatible service, on when BACKUP_OFFSITE_BUCKET is set.
# Credentials come the usual boto3 way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
# or an instance role), never from this file.
BACKUP_OFFSITE_BUCKET = env.str("BACKUP_OFFSITE_BUCKET", default="")
BACKUP_OFFSITE_RETENTION = env.int("BACKUP_OFFSITE_RETENTION", default=30)
BACKUP_OFFSITE_MAX_LAG_SECONDS = env.float("BACKUP_OFFSITE_MAX_LAG_SECONDS", default=900)
BACKUP_OFFSITE_RETRY_BASE_SECONDS = env.float("BACKUP_OFFSITE_RETRY_BASE_SECONDS", default=15)
BACKUP_OFFSITE_RETRY_MAX_SECONDS = env.float("BACKUP_OFFSITE_RETRY_MAX_SECONDS", default=900)
if BACKUP_OFFSITE_BUCKET:
    STORAGES["backups_offsite"] = offsite_storage(
        bucket=BACKUP_OFFSITE_BUCKET,
        prefix=env.str("BACKUP_OFFSITE_PREFIX", default="waitlist-backups"),
        endpoint_url=env.str("BACKUP_OFFSITE_ENDPOINT_URL", default="") or None,
        region=env.str("BACKUP_OFFSITE_REGION", default="us-east-1"),
    )

# django-crontab: `manage.py crontab add` installs these where cron exists. Without cron,
# `manage.py backup_worker` (started by `make run`) does the queue and the schedule itself.
CRONJOBS = [
    ("* * * * *", "backups_app.cron.backup_queue"),
    ("0 * * * *", "backups_app.cron.backup_scheduled"),
    ("30 * * * *", "backups_app.cron.backup_rotation"),
    ("15 3 * * *", "backups_app.cron.backup_daily_restore_test"),
    ("0 4 * * 0", "backups_app.cron.weekly_export"),
]
CRONTAB_COMMAND_PREFIX = (
    f"DJANGO_SETTINGS_MODULE={env.str('DJANGO_SETTINGS_MODULE', default='waitlist_site.settings')}"
)
