"""Guarded schema changes (§7): the ledger, the verified pre-migration backup, and rollback."""

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.utils import timezone

from backups_app import conf, files
from backups_app.alerts import alert_admins, logger
from backups_app.exceptions import (
    BackupError,
    DumpError,
    MigrationFailed,
    MigrationRiskRefused,
    VerificationError,
)
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.report import Action, RiskReport
from backups_app.models import Backup, SchemaChange
from backups_app.selectors import (
    applied_migrations,
    schema_change_get,
    schema_change_later_undone,
    schema_change_ledger_exists,
)
from backups_app.services.create import backup_create
from backups_app.services.restore import backup_restore
from backups_app.services.verify import backup_verify
from waitlist.models import fitted

T = TypeVar("T")

#: PostgreSQL's SQLSTATE for lock_timeout (psycopg's LockNotAvailable).
LOCK_NOT_AVAILABLE = "55P03"


def schema_change_run(
    *,
    report: RiskReport,
    apply: Callable[[], T],
    reason: str = "",
    allow_dangerous: bool = False,
    fake: bool = False,
    triggered_by: str = "",
    confirm: Callable[[], bool] | None = None,
    announce: Callable[[str], None] | None = None,
) -> tuple[SchemaChange, T]:
    """Run `apply` (Django's migrate) for the plan in `report`, guarded and written to the
    ledger; return the ledger entry and what `apply` returned.

    Unreviewed high-risk operations are refused (MigrationRiskRefused, recorded) unless
    `allow_dangerous` with a `reason`; then `confirm` (if given) must say yes. Medium or higher:
    a pinned pre_migration backup is taken and restore-tested first; if that fails nothing is
    applied. `fake` (migrate --fake) runs no operation, so it is only recorded. A failure while
    applying is recorded with what did get applied, and raised as MigrationFailed (its message
    the database's first line; the original error chained); an interruption (Ctrl-C) is
    recorded and raised as it is.
    """
    change = _start(
        report=report,
        reason=reason,
        allow_dangerous=allow_dangerous,
        fake=fake,
        triggered_by=triggered_by,
        confirm=confirm,
    )
    if change.backup_name and announce is not None:
        announce(f"Pre-migration backup {change.backup_name} taken, pinned and restore-tested.")
    try:
        with _lock_timeout(alias=change.database) as seconds:
            result = apply()
    except Exception as err:
        if _is_lock_timeout(err):
            message = _lock_timeout_message(change.database, seconds)
            _finish(change, error=err, message=message)
            raise MigrationFailed(message, change_id=change.pk) from err
        _finish(change, error=err)
        raise MigrationFailed(_first_line(err), change_id=change.pk) from err
    except BaseException as err:
        _finish(change, error=err)
        raise
    _finish(change)
    return change, result


@contextlib.contextmanager
def _lock_timeout(*, alias: str) -> Iterator[float]:
    """On PostgreSQL, run the block with the session's lock_timeout at MIGRATION_LOCK_TIMEOUT
    (a session-level SET, so non-atomic migrations are covered too), and RESET it afterwards,
    whatever happens. A migration queued for a lock makes every later query on that table queue
    behind it, signups included: better to fail cleanly and try again. Elsewhere (SQLite has no
    lock queue to jump, only its busy timeout), and with 0, nothing is set."""
    seconds = conf.migration_lock_timeout()
    connection = connections[alias]
    if connection.vendor != "postgresql" or not seconds:
        yield seconds
        return
    with connection.cursor() as cursor:
        # An integer of milliseconds; never 0, which would mean no limit at all.
        cursor.execute(f"SET lock_timeout = {max(1, round(seconds * 1000))}")
    try:
        yield seconds
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        except DatabaseError as err:  # a broken connection is closed, and its setting with it
            logger.error("cannot reset lock_timeout on %s: %s", alias, err)


def _is_lock_timeout(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) is PostgreSQL's lock_timeout: SQLSTATE 55P03."""
    while error is not None:
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)  # psycopg 3, 2
        if code == LOCK_NOT_AVAILABLE:
            return True
        error = error.__cause__
    return False


def _lock_timeout_message(alias: str, seconds: float) -> str:
    """The lock timeout in one line, naming the oldest other open transaction (the likely
    holder) when it can be read: its pid, state and first words only (a statement may quote
    signup values). With MIGRATION_LOCK_TIMEOUT at 0 the limit was PostgreSQL's own (set on
    the role, the database or the connection's options)."""
    holder, own_limit = _oldest_other_transaction(alias)
    limit = f"{seconds:g} s (MIGRATION_LOCK_TIMEOUT)"
    if not seconds:
        limit = f"PostgreSQL's own lock_timeout ({own_limit or 'unknown'})"
    message = (
        f"LockNotAvailable: it waited more than {limit} for a lock held by another "
        "transaction, and gave up rather than queue the site's queries behind it"
    )
    if holder:
        message += f"; the oldest open transaction is {holder}"
    return message + "; try again once it has ended"


def _oldest_other_transaction(alias: str) -> tuple[str, str]:
    """The oldest other open transaction on this database ("" if none or unreadable), and the
    session's lock_timeout as PostgreSQL shows it."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            own_limit = cursor.fetchone()[0]
            cursor.execute(
                "SELECT pid, state, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 1"
            )
            row = cursor.fetchone()
    except DatabaseError as err:
        logger.warning("cannot read pg_stat_activity: %s", err)
        return "", ""
    if row is None:
        return "", own_limit
    pid, state, query = row
    words = " ".join((query or "").split()[:3])
    return f"pid {pid} ({state}{f', {words} …' if words else ''})", own_limit


def _start(
    *,
    report: RiskReport,
    reason: str,
    allow_dangerous: bool,
    fake: bool,
    triggered_by: str,
    confirm: Callable[[], bool] | None,
) -> SchemaChange:
    reason = " ".join(reason.split())
    if allow_dangerous and not reason:
        raise ValidationError(
            '--allow-dangerous needs --reason "…": say why losing or changing this data is '
            "acceptable; it goes into the ledger."
        )
    names = [m.name for m in report.migrations]
    reasons = [reason, *report.review_reasons] if reason else report.review_reasons
    if fake:
        reasons = ["--fake: recorded as applied, no operation run", *reasons]
    change = SchemaChange(
        risk=report.level.label,
        database=report.database,
        migrations=names,
        plan=report.as_dict(allow_dangerous=allow_dangerous),
        reason=fitted(SchemaChange, "reason", "; ".join(reasons)),
        allowed_dangerous=allow_dangerous,
        triggered_by=fitted(SchemaChange, "triggered_by", triggered_by),
        applied_before=applied_migrations(alias=report.database),
    )
    if fake:
        change.plan = {**change.plan, "action": "fake"}
        _save(change)
        return change
    if report.action(allow_dangerous=allow_dangerous) == Action.REFUSE:
        _refuse(change, *_refusal_message(report))
    if report.backup_required and report.database != "default":
        _refuse(
            change,
            "Refused: pre-migration backups cover the default database only; back up "
            f"{report.database} yourself and migrate it with Django's own migrate.",
        )
    if report.unreviewed_high and confirm is not None and not confirm():
        _refuse(change, "Not confirmed: no migration was applied.")
    _save(change)
    if report.backup_required:
        change.backup_name = _verified_backup(change, names, report, triggered_by)
        _save(change)
    return change


def _verified_backup(
    change: SchemaChange, names: list[str], report: RiskReport, triggered_by: str
) -> str:
    """The name of a pinned, restore-tested pre_migration backup; on any failure the change is
    recorded as failed (nothing applied) and the error raised."""
    try:
        backup = backup_create(
            kind=Backup.Kind.PRE_MIGRATION,
            pin=True,
            pin_reason=f"before {', '.join(names)}",  # backup_create fits it
            note=f"pre-migration backup for schema change (risk {report.level.label})",
            triggered_by=triggered_by,
        )
        verification = backup_verify(backup=backup, restore_test=True)
        if not verification.ok:
            raise VerificationError(
                f"The pre-migration backup {backup.name} failed verification: {verification.detail}"
            )
    except (BackupError, OSError, DatabaseError) as err:
        _end(change, SchemaChange.Outcome.FAILED, f"No migration was applied: {err}")
        if isinstance(err, BackupError):
            raise
        raise DumpError(f"The pre-migration backup failed: {err}") from err
    except BaseException:  # Ctrl-C while backing up: nothing applied, and the ledger says so
        _end(change, SchemaChange.Outcome.FAILED, "Interrupted during the pre-migration backup.")
        raise
    logger.info("pre-migration backup verified name=%s migrations=%s", backup.name, ",".join(names))
    return backup.name


def _finish(change: SchemaChange, *, error: BaseException | None = None, message: str = "") -> None:
    """Record how the migrations ended: applied, or failed (with what did get applied, and
    `message`, or else the error itself, as the reason)."""
    try:
        change.applied_after = applied_migrations(alias=change.database)
    except DatabaseError as err:  # the database went away: say so rather than stay "running"
        logger.error("schema change %s: cannot read the applied migrations: %s", change.pk, err)
    if error is None:
        _end(change, SchemaChange.Outcome.APPLIED, "")
        return
    done = sorted(set(change.applied_after) - set(change.applied_before))
    message = message or f"{type(error).__name__}: {error}".strip()
    detail = f"{message} (applied before the failure: {', '.join(done) or 'none'}"
    if not change.plan.get("atomic", True):
        detail += "; a non-atomic migration may have changed data before it failed"
    detail += ")"
    _end(change, SchemaChange.Outcome.FAILED, detail)
    alert_admins(
        f"Schema change #{change.pk} failed",
        f"{detail}. Backup taken before it: {change.backup_name or 'none (no data at risk)'}",
    )


def _first_line(error: BaseException) -> str:
    """The error in one line: PostgreSQL's DETAIL and HINT lines may quote row values."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def schema_change_rollback_check(*, change_id: int) -> SchemaChange:
    """The change, if `schema_change_rollback` would roll it back; else ValidationError saying
    why not (asked before a terminal prompt, so nobody confirms a rollback that is refused)."""
    change = schema_change_get(change_id=change_id)
    if change.outcome == SchemaChange.Outcome.ROLLED_BACK:
        raise ValidationError(f"Schema change #{change.pk} was already rolled back.")
    if change.outcome in (SchemaChange.Outcome.REFUSED, SchemaChange.Outcome.RUNNING):
        raise ValidationError(
            f"Schema change #{change.pk} is {change.get_outcome_display()}: there is nothing to "
            "roll back."
        )
    if not change.backup_name:
        raise ValidationError(
            f"Schema change #{change.pk} took no verified backup (no data was at risk, or the "
            "backup failed and nothing ran); undo it with `manage.py migrate APP MIGRATION`."
        )
    nothing_ran = change.applied_after == change.applied_before and change.plan.get("atomic", True)
    if change.outcome == SchemaChange.Outcome.FAILED and nothing_ran:
        raise ValidationError(
            f"Schema change #{change.pk} failed inside a transaction and applied nothing: "
            "there is nothing to roll back."
        )
    risky_later = [
        c
        for c in schema_change_later_undone(change=change)
        if Level.from_label(c.risk) >= Level.MEDIUM
    ]
    later = risky_later[0] if risky_later else None
    if later is not None:
        raise ValidationError(
            f"Schema change #{later.pk} (risk {later.risk}) ran after #{change.pk}; roll that "
            f"back first (rolling back #{change.pk} would silently undo it too)."
        )
    if SchemaChange._meta.db_table not in _backup_tables(change.backup_name):
        raise ValidationError(
            f"{change.backup_name} was taken before the schema-change ledger existed, so "
            "restoring it would remove the ledger; restore it with `manage.py restore "
            f"{change.backup_name}` if that is what you want."
        )
    return change


def _backup_tables(name: str) -> set[str]:
    try:
        manifest = files.read_manifest(files.manifest_path_for(files.resolve_dump(name)))
    except (ValidationError, OSError):
        return {SchemaChange._meta.db_table}  # the restore's own checks will say what is wrong
    return set(manifest.get("row_counts") or {})


@dataclass
class RollbackResult:
    """What a rollback did: the backup restored, the safety backup taken first, the signups
    re-inserted from it, and whether the applied migrations match those recorded before."""

    change_id: int
    backup: str
    safety_backup: str
    reinserted_signups: int
    later_signups: int
    #: Some later signups are only in the safety backup (the detail says how to merge them).
    signups_left_behind: bool
    schema_matches: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def schema_change_rollback(*, change_id: int, triggered_by: str = "") -> RollbackResult:
    """Put the database back as it was before schema change `change_id`: restore its verified
    pre-migration backup (with every restore check and a safety backup first), keeping the
    signups that arrived after that backup. The ledger survives and says so."""
    change = schema_change_rollback_check(change_id=change_id)
    undone_later = schema_change_later_undone(change=change)
    # The restore keeps, in its own transaction, the later signups the older schema can take
    # and parks the others whole in a table of their own: none is lost, even one committed
    # while the rollback runs.
    restored = backup_restore(
        name=change.backup_name, triggered_by=triggered_by, later_may_stay_behind=True
    )
    reinserted = restored.signups_kept
    missing = restored.signups_kept + restored.signups_left_behind
    left_behind = restored.signups_left_behind > 0
    notes = []
    if left_behind:
        notes.append(
            f"{restored.signups_left_behind} later signup(s) do not fit the older schema; they "
            f"are kept whole in the table {restored.left_behind_table} (and in every backup "
            "from now on): once the code matches the schema again, re-insert them from there"
        )
    now_applied = applied_migrations(alias=change.database)
    matches = now_applied == sorted(change.applied_before)
    if not matches:
        notes.append("the applied migrations differ from those recorded before the change")
    detail = (
        f"restored {change.backup_name} (the data before the change is back); "
        f"{reinserted} of {missing} later signup(s) re-inserted; the data before the rollback "
        f"is in {restored.safety_backup}"
    )
    if restored.signups_kept_erased:
        notes.append(
            f"{restored.signups_kept_erased} signup(s) of erased fans in the backup stayed erased"
        )
    if restored.journal is not None:
        notes.append(f"signup journal: {restored.journal.summary().rstrip('.')}")
    elif restored.journal_error:
        notes.append(f"signup journal: {restored.journal_error}")
    if undone_later:
        notes.append(f"also undid schema change(s) {', '.join(f'#{c.pk}' for c in undone_later)}")
    detail = "; ".join([detail, *notes])
    SchemaChange.objects.filter(pk__in=[c.pk for c in undone_later]).update(
        outcome=SchemaChange.Outcome.ROLLED_BACK,
        rolled_back_at=timezone.now(),
        rolled_back_by=fitted(SchemaChange, "rolled_back_by", triggered_by),
        rollback_detail=f"undone by the rollback of schema change #{change_id}",
    )
    change = schema_change_get(change_id=change_id)  # the restore put the ledger back
    change.outcome = SchemaChange.Outcome.ROLLED_BACK
    change.rolled_back_at = timezone.now()
    change.rolled_back_by = fitted(SchemaChange, "rolled_back_by", triggered_by)
    change.rollback_detail = fitted(SchemaChange, "rollback_detail", detail)
    change.save()
    logger.info("schema change rolled back id=%s %s", change.pk, detail)
    return RollbackResult(
        change_id=change.pk,
        backup=change.backup_name,
        safety_backup=restored.safety_backup,
        reinserted_signups=reinserted,
        later_signups=missing,
        signups_left_behind=left_behind,
        schema_matches=matches,
        detail=detail,
    )


def _refusal_message(report: RiskReport) -> tuple[str, str]:
    """The refusal with every high-risk operation in it, and without (for after the report)."""
    count = len(report.unreviewed_high)
    details = []
    for op in report.unreviewed_high:
        rows = "" if op.rows is None else f" ({op.rows} row(s))"
        details.append(f"  {op.migration}: {op.operation}{rows}: {op.reason}")
        if op.safe_alternative:
            details.append(f"    safer: {op.safe_alternative}")
    app_label, name = report.unreviewed_high[0].migration.split(".", 1)
    hint = (
        'To go ahead anyway, run again with --allow-dangerous --reason "…" (a verified backup is '
        f"taken first), or record a review: manage.py review_migration {app_label} {name} "
        '--reason "…".'
    )
    full = "\n".join([f"Refused: {count} high-risk operation(s), nothing applied.", *details, hint])
    brief = f"Refused: {count} high-risk operation(s) listed above; nothing applied.\n{hint}"
    return full, brief


def _refuse(change: SchemaChange, message: str, brief: str = "") -> None:
    _end(change, SchemaChange.Outcome.REFUSED, message)
    logger.warning("migration refused: %s", message.splitlines()[0])
    raise MigrationRiskRefused(message, brief=brief, change_id=change.pk)


def _end(change: SchemaChange, outcome: str, error: str) -> None:
    change.outcome = outcome
    change.error = fitted(SchemaChange, "error", error)
    change.finished_at = timezone.now()
    _save(change)


def _save(change: SchemaChange) -> None:
    """The first migrate creates the ledger table itself: save only once it is there."""
    try:
        if schema_change_ledger_exists():
            change.save()
    except DatabaseError as err:
        logger.error("schema change %s (%s) not recorded: %s", change.pk, change.outcome, err)
        if change.outcome == SchemaChange.Outcome.RUNNING:
            raise  # never run migrations the ledger cannot record
