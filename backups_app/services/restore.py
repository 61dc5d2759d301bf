"""Restoring a backup over the live database, atomically and with a safety backup first (§4.5)."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader

from backups_app import conf, files
from backups_app.alerts import alert_admins, logger
from backups_app.engines import get_engine
from backups_app.engines.base import (
    BaseEngine,
    ErasureRules,
    ExactConfirmation,
    RestoreRules,
    is_left_behind_table,
)
from backups_app.exceptions import RestoreError, VerificationError
from backups_app.models import Backup
from backups_app.restore_record import restored_state_record
from backups_app.services.catalogue import catalogue_sync_locked
from backups_app.services.create import backup_create_locked
from backups_app.services.journal import JournalError, ReplayReport, journal_replay
from backups_app.services.offsite import backup_offsite_fetch_missing
from backups_app.services.verify import check_files
from waitlist.erasure import ErasedAddresses, pads_setting
from waitlist.models import Erasure, ErasureRequest, Signup


@dataclass
class RestoreResult:
    name: str
    safety_backup: str
    seconds: float
    row_counts: dict[str, int]
    #: Live signups the backup lacked: kept, removed (--exact), or left in the safety backup.
    signups_kept: int = 0
    signups_removed: int = 0
    signups_left_behind: int = 0
    left_behind_table: str = ""
    #: Signups of erased fans the backup held, removed again in the restore's transaction.
    signups_kept_erased: int = 0
    #: Tables newer than the backup that the restore dropped, with their rows (all of them in
    #: the safety backup).
    tables_dropped: dict[str, int] = field(default_factory=dict)
    exact: bool = False
    accounts_kept: bool = True
    #: The journal replayed after the restore (§11); None when it was not (--exact, asked not
    #: to, or it failed: `journal_error` says why).
    journal: ReplayReport | None = None
    journal_error: str = ""

    def journal_summary(self) -> str:
        if self.journal is not None:
            return self.journal.summary()
        return self.journal_error

    def as_dict(self) -> dict[str, Any]:
        return {
            "restored": self.name,
            "safety_backup": self.safety_backup,
            "seconds": self.seconds,
            "row_counts": self.row_counts,
            "signups_kept": self.signups_kept,
            "signups_removed": self.signups_removed,
            "signups_left_behind": self.signups_left_behind,
            "left_behind_table": self.left_behind_table,
            "signups_kept_erased": self.signups_kept_erased,
            "tables_dropped": self.tables_dropped,
            "exact": self.exact,
            "accounts_kept": self.accounts_kept,
            "journal": self.journal.as_dict() if self.journal is not None else None,
            "journal_error": self.journal_error,
        }


# Apps whose tables are "staff accounts" (users, groups, permissions, sessions, the admin's log):
# a restore keeps them as they are now unless asked for the backup's (--include-accounts).
ACCOUNT_APPS = ("auth", "contenttypes", "sessions", "admin")
# Apps whose tables always keep their live rows: the backup catalogue and the ledgers.
LEDGER_APPS = ("backups_app",)
# The erasure ledger (kept as the union of live and backup, then applied) and the fans' requests.
ERASURE_MODELS = (Erasure, ErasureRequest)


def kept_tables(*, include_accounts: bool = False) -> tuple[str, ...]:
    """The tables a full restore leaves as they are now (§4.5)."""
    labels = LEDGER_APPS if include_accounts else (*LEDGER_APPS, *ACCOUNT_APPS)
    tables = []
    for label in labels:
        if apps.is_installed(f"django.contrib.{label}") or label in LEDGER_APPS:
            config = apps.get_app_config(label)
            tables += [m._meta.db_table for m in config.get_models(include_auto_created=True)]
    tables += [model._meta.db_table for model in ERASURE_MODELS]
    return tuple(dict.fromkeys(t for t in tables if t != Signup._meta.db_table))


def restore_rules(
    *,
    exact: bool = False,
    exact_confirmed: ExactConfirmation | None = None,
    include_accounts: bool = False,
    later_may_stay_behind: bool = False,
) -> RestoreRules:
    return RestoreRules(
        kept_tables=kept_tables(include_accounts=include_accounts),
        signup_table=Signup._meta.db_table,
        signup_key=Signup._meta.get_field("email").column,
        signup_pk=Signup._meta.pk.column,
        exact=exact,
        exact_confirmed=exact_confirmed,
        later_signups_may_stay_behind=later_may_stay_behind,
        erasure=erasure_rules(),
    )


def erasure_rules() -> ErasureRules:
    """How a restore keeps and applies the erasure ledger (§12)."""
    return ErasureRules(
        table=Erasure._meta.db_table,
        pk=Erasure._meta.pk.column,
        hash_column=Erasure._meta.get_field("email_hash").column,
        at_column=Erasure._meta.get_field("erased_at").column,
        signup_created_column=Signup._meta.get_field("created_at").column,
        matcher=lambda rows: ErasedAddresses.from_rows(rows).covers,
        pads=pads_setting(),
    )


def checked_backup(
    *, name: str, engine: BaseEngine, signing_keys: tuple[bytes, ...] = ()
) -> tuple[Path, dict[str, Any]]:
    """The dump a user named and its manifest, once every check before a restore has passed.

    Refuses (ValidationError, VerificationError or RestoreError): names outside BACKUP_DIR,
    backups our keys (or `signing_keys`) did not sign, damaged files, another vendor's backup,
    and a schema newer than this code. Read the dump afterwards only with
    `files.open_sql(dump, manifest=manifest)`, which proves the bytes are still the ones checked
    and, at the end, that the dump is complete: a .gz or .enc dump is not decompressed or
    decrypted here just to find its completion marker (check_files without `read_to_end`).
    """
    backup_offsite_fetch_missing(name=name)  # the local copy is gone: fetch it (§8.1)
    dump = files.resolve_dump(name)
    manifest = check_files(dump=dump, signing_keys=signing_keys, read_to_end=False)
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


def backup_restore(
    *,
    name: str,
    triggered_by: str = "",
    exact: bool = False,
    exact_confirmed: ExactConfirmation | None = None,
    include_accounts: bool = False,
    later_may_stay_behind: bool = False,
    signing_keys: tuple[bytes, ...] = (),
    replay: bool = True,
) -> RestoreResult:
    """Put backup `name` back over the live data.

    Checks the backup first, takes a pinned pre_restore backup of the current data, then
    restores atomically (even if this process is killed) with the row counts checked, and
    re-syncs the catalogue. Every signup the backup holds comes back as it was there; every live
    signup it lacks, down to those committed a moment before the swap, is kept, unless `exact`
    (the point-in-time restore) removes them, within what a person confirmed when
    `exact_confirmed` is given. Staff accounts,
    sessions, the catalogue and the ledgers stay as they are now (`include_accounts` takes the
    backup's accounts). `signing_keys` trust a backup from another installation. On any
    failure the current data is exactly as it was and RestoreError (or a refusal) says why.

    Afterwards the signup journal is replayed (§11): every signup accepted since the backup,
    lost from the table or not, is back. Not after an `exact` restore, which asks for the
    backup's state, nor with `replay=False`.
    """
    engine = get_engine()
    if connections[engine.alias].in_atomic_block:
        raise RestoreError("A restore cannot run inside a database transaction.")
    dump, manifest = checked_backup(name=name, engine=engine, signing_keys=signing_keys)
    if Backup._meta.db_table not in connections[engine.alias].introspection.table_names():
        raise RestoreError(
            "This database has no backup catalogue yet: run `manage.py migrate` first, then "
            "restore (or restore without Django: see the README's emergency restore)."
        )
    rules = restore_rules(
        exact=exact,
        exact_confirmed=exact_confirmed,
        include_accounts=include_accounts,
        later_may_stay_behind=later_may_stay_behind,
    )
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        safety = safety_backup_locked(
            engine=engine, reason=f"before {dump.name} was restored", triggered_by=triggered_by
        )
        dropped = tables_newer_than(manifest=manifest, alias=engine.alias)
        # Our own connection must not hold a transaction or a cached view of the old tables.
        connections[engine.alias].close()
        clock = time.monotonic()
        try:
            with files.open_sql(dump, manifest=manifest) as sql:
                outcome = engine.restore(
                    sql=sql, expected_counts=manifest.get("row_counts") or {}, rules=rules
                )
        except (RestoreError, VerificationError) as err:
            alert_admins(f"Restore of {dump.name} failed", f"{err} (data unchanged)")
            raise
        seconds = round(time.monotonic() - clock, 3)
        connections[engine.alias].close()
        catalogue_sync_locked()
        restored_state_record(name=dump.name, row_counts=engine.row_counts())
    logger.info(
        "restore succeeded name=%s safety_backup=%s seconds=%.3f signups_kept=%d "
        "signups_removed=%d signups_left_behind=%d signups_kept_erased=%d accounts=%s by=%s",
        dump.name,
        safety.name,
        seconds,
        outcome.signups_kept,
        outcome.signups_removed,
        outcome.signups_left_behind,
        outcome.signups_kept_erased,
        "from-backup" if include_accounts else "kept",
        triggered_by or "-",
    )
    journal_report, journal_error = None, ""
    if replay and not exact:
        journal_report, journal_error = _replay_journal(dump.name, signing_keys)
    elif exact:
        journal_error = (
            "the journal was not replayed (a point-in-time restore); `manage.py replay_journal` "
            "brings the later signups back"
        )
    return RestoreResult(
        name=dump.name,
        safety_backup=safety.name,
        seconds=seconds,
        row_counts=manifest.get("row_counts") or {},
        signups_kept=outcome.signups_kept,
        signups_removed=outcome.signups_removed,
        signups_left_behind=outcome.signups_left_behind,
        left_behind_table=outcome.left_behind_table,
        signups_kept_erased=outcome.signups_kept_erased,
        tables_dropped=dropped,
        exact=exact,
        accounts_kept=not include_accounts,
        journal=journal_report,
        journal_error=journal_error,
    )


def _replay_journal(name: str, signing_keys: tuple[bytes, ...]) -> tuple[ReplayReport | None, str]:
    """Replay the whole journal after a restore; a failure does not undo the restore."""
    try:
        report = journal_replay(extra_keys=signing_keys)
    except (JournalError, DatabaseError) as err:
        logger.error("journal replay after the restore of %s failed: %s", name, err)
        return None, f"the journal could not be replayed: {err}"
    return report, ""


def tables_newer_than(*, manifest: dict[str, Any], alias: str = "default") -> dict[str, int]:
    """The live tables a restore of this backup drops because the backup predates them (not
    the signup table, not the tables a rollback parked signups in; a kept one with rows makes
    the restore refuse instead), with how many rows each holds now."""
    signup_table = Signup._meta.db_table
    in_backup = set(manifest.get("row_counts") or {})
    connection = connections[alias]
    newer = [
        table
        for table in connection.introspection.table_names()
        if table not in in_backup
        and table != signup_table
        and not is_left_behind_table(table, signup_table)
    ]
    counts = {}
    with connection.cursor() as cursor:
        for table in newer:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def safety_backup_locked(*, engine: BaseEngine, reason: str, triggered_by: str) -> Backup:
    """The pinned pre_restore backup of the current data that a restore or merge takes first
    (the caller holds the lock), so that the operation itself can be undone."""
    return backup_create_locked(
        engine=engine,
        kind=Backup.Kind.PRE_RESTORE,
        pin=True,
        pin_reason=f"the data as it was {reason}",
        triggered_by=triggered_by,
    )


def _known_migrations(engine: BaseEngine) -> set[str]:
    loader = MigrationLoader(connections[engine.alias], ignore_no_migrations=True, load=True)
    return {f"{app}.{name}" for app, name in loader.disk_migrations}
