"""Backup engines: one per database vendor, chosen from the connection's ENGINE."""

from django.db import connections

from backups_app.engines.base import BaseEngine
from backups_app.exceptions import EngineNotSupported

ENGINES = {
    "django.db.backends.postgresql": "backups_app.engines.postgresql.PostgreSQLEngine",
    "django.db.backends.sqlite3": "backups_app.engines.sqlite.SQLiteEngine",
}


#: A backup's vendor (the manifest's "vendor") -> the Django ENGINE whose dumps it holds.
VENDORS = {
    "postgresql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}


def engine_class(vendor: str) -> type[BaseEngine]:
    """The engine class that reads a `vendor` backup; EngineNotSupported for any other."""
    from django.utils.module_loading import import_string

    try:
        return import_string(ENGINES[VENDORS[vendor]])
    except KeyError:
        raise EngineNotSupported(f"Backups of {vendor!r} databases are not supported.") from None


def get_engine(alias: str = "default") -> BaseEngine:
    """The engine for database `alias`; EngineNotSupported for any other database engine."""
    from django.utils.module_loading import import_string

    engine = connections[alias].settings_dict["ENGINE"]
    try:
        path = ENGINES[engine]
    except KeyError:
        supported = ", ".join(sorted(ENGINES))
        raise EngineNotSupported(
            f"Backups support {supported}; database {alias!r} uses {engine}."
        ) from None
    return import_string(path)(alias)
