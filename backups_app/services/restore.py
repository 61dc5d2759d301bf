"""Restoring a backup over the live database, atomically and with a safety backup first (§4.5)."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.color import no_style
from django.db import DatabaseError, connections, transaction
from django.db.migrations.loader import MigrationLoader

from backups_app import conf, files
from backups_app.alerts import alert_admins, logger
from backups_app.engines import get_engine
from backups_app.engines.base import BaseEngine
from backups_app.exceptions import RestoreError
from backups_app.models import Backup, SchemaChange
from backups_app.selectors import schema_change_ledger_exists
from backups_app.services.catalogue import catalogue_sync_locked
from backups_app.services.create import backup_create_locked
from backups_app.services.verify import check_files


@dataclass
class RestoreResult:
    name: str
    safety_backup: str
    seconds: float
    row_counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "restored": self.name,
            "safety_backup": self.safety_backup,
            "seconds": self.seconds,
            "row_counts": self.row_counts,
        }


def checked_backup(name: str, engine: BaseEngine) -> tuple[Path, dict[str, Any]]:
    """The dump a user named and its manifest, once every check before a restore has passed.

    Refuses (ValidationError, VerificationError or RestoreError): names outside BACKUP_DIR,
    damaged or incomplete files, another vendor's backup, and a schema newer than this code.
    """
    dump = files.resolve_dump(name)
    manifest = check_files(dump)
    if manifest.get("vendor") != engine.vendor:
        raise RestoreError(
            f"{dump.name} is a {manifest.get('vendor')} backup and this site runs on "
            f"{engine.vendor}; restore it into a {manifest.get('vendor')} database instead."
        )
    unknown = sorted(set(manifest.get("migrations") or []) - _known_migrations(engine))
    if unknown:
        raise RestoreError(
            f"{dump.name} comes from a newer schema than this code knows "
            f"({', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}); "
            "deploy that code first."
        )
    return dump, manifest


def backup_restore(*, name: str, triggered_by: str = "") -> RestoreResult:
    """Replace the live data with backup `name`.

    Checks the backup first, takes a pinned pre_restore backup of the current data, restores
    atomically with the row counts checked, and re-syncs the catalogue. On any failure the
    current data is exactly as it was and RestoreError (or a refusal) says why.
    """
    engine = get_engine()
    if connections[engine.alias].in_atomic_block:
        raise RestoreError("A restore cannot run inside a database transaction.")
    dump, manifest = checked_backup(name, engine)
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        safety = safety_backup_locked(
            engine, reason=f"before {dump.name} was restored", triggered_by=triggered_by
        )
        # Our own connection must not hold a transaction or a cached view of the old tables.
        ledger = _ledger_rows(engine.alias)
        connections[engine.alias].close()
        clock = time.monotonic()
        try:
            with files.open_sql(dump) as sql:
                engine.restore(sql=sql, expected_counts=manifest.get("row_counts") or {})
        except RestoreError as err:
            alert_admins(f"Restore of {dump.name} failed", f"{err} (data unchanged)")
            raise
        seconds = round(time.monotonic() - clock, 3)
        connections[engine.alias].close()
        catalogue_sync_locked()
        _ledger_put_back(engine.alias, ledger)
    logger.info(
        "restore succeeded name=%s safety_backup=%s seconds=%.3f by=%s",
        dump.name,
        safety.name,
        seconds,
        triggered_by or "-",
    )
    return RestoreResult(
        name=dump.name,
        safety_backup=safety.name,
        seconds=seconds,
        row_counts=manifest.get("row_counts") or {},
    )


def safety_backup_locked(engine: BaseEngine, *, reason: str, triggered_by: str) -> Backup:
    """The pinned pre_restore backup of the current data that a restore or merge takes first
    (the caller holds the lock), so that the operation itself can be undone."""
    return backup_create_locked(
        engine=engine,
        kind=Backup.Kind.PRE_RESTORE,
        pin=True,
        pin_reason=f"the data as it was {reason}",
        triggered_by=triggered_by,
    )


def _ledger_rows(alias: str) -> list[dict[str, Any]] | None:
    """The schema-change ledger, read before a restore replaces it: it records what happened
    after the backup too (the rollback itself, above all), so it must outlive the restore."""
    if not schema_change_ledger_exists(alias=alias):
        return None
    return list(SchemaChange.objects.using(alias).values())


def _ledger_put_back(alias: str, rows: list[dict[str, Any]] | None) -> None:
    if not rows or not schema_change_ledger_exists(alias=alias):
        return
    try:
        with transaction.atomic(using=alias):
            for row in rows:
                values = {k: v for k, v in row.items() if k != "id"}
                SchemaChange.objects.using(alias).update_or_create(id=row["id"], defaults=values)
            connection = connections[alias]
            with connection.cursor() as cursor:
                for statement in connection.ops.sequence_reset_sql(no_style(), [SchemaChange]):
                    cursor.execute(statement)
    except DatabaseError as err:  # a backup from before the ledger had today's columns
        logger.warning("schema-change ledger not carried over the restore: %s", err)


def _known_migrations(engine: BaseEngine) -> set[str]:
    loader = MigrationLoader(connections[engine.alias], ignore_no_migrations=True, load=True)
    return {f"{app}.{name}" for app, name in loader.disk_migrations}
