"""Bench settings with the automatic-backup trigger off (for the latency comparison)."""

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.no_trigger.NoTriggerConfig"]
