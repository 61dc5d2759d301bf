"""Bench-only settings: the site's settings plus django-dbbackup, to measure against it."""

import os

from waitlist_site.settings import *  # noqa: F403
from waitlist_site.settings import INSTALLED_APPS, STORAGES

INSTALLED_APPS = [*INSTALLED_APPS, "dbbackup"]
STORAGES = {
    **STORAGES,
    "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ["BENCH_DBBACKUP_DIR"]},
    },
}
