"""Merge restore: put back the signups a backup has and the live table lost (§4.5).

Everything newer stays: nothing is deleted or overwritten, and a signup counts as present when
its email (case-insensitive) is in the live table. `backup_diff` shows the same without writing.
"""

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Max
from django.db.models.functions import Lower
from django.utils import timezone

from backups_app import conf, files
from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.engines.base import BaseEngine, ExactConfirmation, ScratchDatabase
from backups_app.models import Backup
from backups_app.services.restore import checked_backup, safety_backup_locked, tables_newer_than
from waitlist.erasure import ErasedAddresses, lock_ledger
from waitlist.models import Signup, normalize_email

SAMPLE_SIZE = 20


@dataclass
class MergeResult:
    name: str
    missing: int = 0
    inserted: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    safety_backup: str | None = None
    #: Signups in the backup whose fan was erased since (§12): never put back.
    kept_erased: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "backup": self.name,
            "missing": self.missing,
            "inserted": self.inserted,
            "kept_erased": self.kept_erased,
            "sample": self.sample,
            "safety_backup": self.safety_backup,
        }


def backup_diff(*, name: str, signing_keys: tuple[bytes, ...] = ()) -> MergeResult:
    """What a merge restore of backup `name` would add: the count and the first rows."""
    engine = get_engine()
    dump, manifest = checked_backup(name=name, engine=engine, signing_keys=signing_keys)
    result = MergeResult(name=dump.name)
    # Under the lock, like every scratch database: the worker's clean-up never races it.
    with (
        engine.lock(timeout=conf.lock_timeout_seconds()),
        files.open_sql(dump, manifest=manifest) as sql,
        engine.scratch(sql=sql) as scratch,
    ):
        for batch in _missing_batches(scratch, tally=result):
            result.missing += len(batch)
            _add_sample(result, batch)
    return result


@dataclass
class RestorePreview:
    """Everything a person is shown before restoring a backup, as of now (§4.5): what the
    restore page and `manage.py restore` say before they ask for a confirmation."""

    name: str
    backup_signups: int
    live_signups: int
    #: Signups in the backup that the live table lacks: a restore brings them back.
    brought_back: int
    #: Live signups the backup lacks: kept by a restore, removed by `--exact`.
    later: int
    #: The newest live signup's id: an exact restore confirmed on this preview removes none
    #: newer.
    newest_live_id: int | None = None
    #: The first signups it would bring back.
    sample: list[dict[str, Any]] = field(default_factory=list)
    #: Signups in the backup whose fan was erased since: the restore removes them again.
    kept_erased: int = 0
    #: Whether the counts above come from the backup restored into a scratch database and
    #: compared, by email, with the live table; without, only `backup_signups` and
    #: `live_signups` are counted.
    compared: bool = False
    #: When the backup was taken, as its manifest says.
    created_at: str | None = None
    #: Staff accounts in the backup (they replace the live ones with `include_accounts`).
    backup_accounts: int = 0
    #: Live signups added since the backup: `later` when compared; else those newer than the
    #: backup's newest signup (None: a backup that does not say which that was).
    signups_added_since: int | None = None
    #: Live tables the backup predates, which a restore drops, with their rows now.
    tables_newer: dict[str, int] = field(default_factory=dict)
    #: Each table the backup holds: its rows there and now (None: no such live table).
    table_rows: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def exact_confirmation(self) -> ExactConfirmation:
        """What confirming an exact restore on this preview allows it to remove."""
        return ExactConfirmation(removes=self.later, newest_id=self.newest_live_id or 0)


def backup_restore_preview(
    *,
    name: str,
    signing_keys: tuple[bytes, ...] = (),
    compare: bool = True,
    check_files: bool = True,
) -> RestorePreview:
    """What restoring backup `name` would do, as of now, without changing anything.

    Reads the checked backup (`checked_backup` refuses one that fails a check) or, with
    `check_files=False`, the catalogue's copy of its manifest, which opens and fetches no file:
    for a page that only shows it. `compare` (which needs the checked files) also restores it
    into a scratch database and counts, by email, which of its signups the live table lacks and
    which live signups it lacks (emails are unique on both sides, case-insensitive).
    """
    if compare and not check_files:
        raise ValueError("Comparing a backup with the live table reads its checked files.")
    engine = get_engine()
    if check_files:
        dump, manifest = checked_backup(name=name, engine=engine, signing_keys=signing_keys)
        name, newest_signup_id = dump.name, (manifest.get("newest_signup") or {}).get("id")
    else:
        backup = Backup.objects.get(name=name)
        # The catalogue's own column: an older backup's row may not know its newest signup.
        manifest, newest_signup_id = backup.manifest, backup.newest_signup_id
    row_counts = manifest.get("row_counts") or {}
    live_rows = engine.row_counts()
    preview = RestorePreview(
        name=name,
        backup_signups=row_counts.get(Signup._meta.db_table, 0),
        live_signups=Signup.objects.count(),
        brought_back=0,
        later=0,
        created_at=manifest.get("created_at"),
        backup_accounts=row_counts.get(get_user_model()._meta.db_table, 0),
        tables_newer=tables_newer_than(manifest=manifest, alias=engine.alias),
        table_rows={table: (rows, live_rows.get(table)) for table, rows in row_counts.items()},
    )
    if compare:
        _compare(preview, engine=engine, dump=dump, manifest=manifest)
    elif newest_signup_id is not None:
        preview.signups_added_since = Signup.objects.filter(pk__gt=newest_signup_id).count()
    elif preview.backup_signups == 0:
        preview.signups_added_since = preview.live_signups  # an empty backup lacks every one
    return preview


def _compare(preview: RestorePreview, *, engine: BaseEngine, dump: Path, manifest: dict) -> None:
    """Count into `preview`, in a scratch copy of the backup, what a restore would bring back
    and which live signups the backup lacks."""
    with (
        engine.lock(timeout=conf.lock_timeout_seconds()),
        files.open_sql(dump, manifest=manifest) as sql,
        engine.scratch(sql=sql) as scratch,
    ):
        preview.backup_signups = scratch.row_counts().get(Signup._meta.db_table, 0)
        for batch in _missing_batches(scratch, tally=preview):
            preview.brought_back += len(batch)
            _add_sample(preview, batch)
        preview.live_signups = Signup.objects.count()
        preview.newest_live_id = Signup.objects.aggregate(newest=Max("pk"))["newest"] or 0
    in_both = preview.backup_signups - preview.brought_back - preview.kept_erased
    preview.later = max(0, preview.live_signups - in_both)
    preview.signups_added_since = preview.later
    preview.compared = True


def backup_merge(
    *,
    name: str,
    triggered_by: str = "",
    safety_backup: bool = True,
    signing_keys: tuple[bytes, ...] = (),
) -> MergeResult:
    """Re-insert the signups in backup `name` that are missing from the live table.

    Takes a pinned pre_restore backup first (a caller that has just taken one may say
    `safety_backup=False`). Original ids and timestamps are kept where the id is free. Only the
    columns the live table has are written, so signups from a newer schema fit an older one.
    Each batch commits on its own, so a failure keeps what was already put back.
    """
    engine = get_engine()
    dump, manifest = checked_backup(name=name, engine=engine, signing_keys=signing_keys)
    result = MergeResult(name=dump.name)
    with engine.lock(timeout=conf.lock_timeout_seconds()):
        if safety_backup:
            safety = safety_backup_locked(
                engine=engine,
                reason=f"before signups from {dump.name} were re-inserted",
                triggered_by=triggered_by,
            )
            result.safety_backup = safety.name
        live_columns = _live_columns(engine.alias)
        with files.open_sql(dump, manifest=manifest) as sql, engine.scratch(sql=sql) as scratch:
            for batch in _missing_batches(scratch, tally=result):
                result.missing += len(batch)
                _add_sample(result, batch)
                result.inserted += _insert(batch, live_columns)
        _reset_sequence(engine.alias)
    logger.info(
        "merge restore name=%s inserted=%d safety_backup=%s by=%s",
        dump.name,
        result.inserted,
        result.safety_backup or "-",
        triggered_by or "-",
    )
    return result


def _live_columns(alias: str) -> set[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, Signup._meta.db_table)
    return {column.name for column in description}


def _missing_batches(scratch: ScratchDatabase, *, tally: "MergeResult | RestorePreview"):
    """Batches of backed-up signups (as dicts) whose email is not in the live table, without
    those of erased fans (counted in `tally.kept_erased`; their rows never leave the scratch
    database, not even as a sample)."""
    erased = ErasedAddresses.load()
    table = Signup._meta.db_table
    model_columns = {f.column: f for f in Signup._meta.concrete_fields}
    columns = [c for c in scratch.columns(table) if c in model_columns]
    if "email" not in columns:
        return
    for rows in scratch.iter_rows(table, columns):
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        emails = {normalize_email(r["email"]) for r in records}
        present = set(
            Signup.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("email_lower", flat=True)
        )
        missing = [r for r in records if normalize_email(r["email"]) not in present]
        if erased:
            kept = [r for r in missing if not erased.covers(r["email"], r.get("created_at"))]
            tally.kept_erased += len(missing) - len(kept)
            missing = kept
        if missing:
            yield missing


def _insert(records: list[dict[str, Any]], live_columns: set[str]) -> int:
    """Insert the batch in one transaction that holds the erasure ledger, so a fan erased
    since the batch was read is left out rather than put back."""
    with transaction.atomic():
        lock_ledger()
        erased = ErasedAddresses.load()
        records = [r for r in records if not erased.covers(r["email"], r.get("created_at"))]
        return _insert_unlocked(records, live_columns) if records else 0


def _insert_unlocked(records: list[dict[str, Any]], live_columns: set[str]) -> int:
    taken = set(
        Signup.objects.filter(pk__in=[r["id"] for r in records if r.get("id")]).values_list(
            "pk", flat=True
        )
    )
    signups = {}
    for record in records:
        signup = _signup_from(record)
        if signup.pk in taken:
            signup.pk = None  # the id was reused since: keep the signup, give it a new id
        signups.setdefault(signup.email, signup)
    if not {f.column for f in Signup._meta.concrete_fields} <= live_columns:
        return _insert_columns(list(signups.values()), live_columns)
    try:
        with transaction.atomic():
            return len(Signup.objects.bulk_create(signups.values()))
    except IntegrityError:
        # Someone signed up with one of these emails a moment ago: go one by one, skip them.
        inserted = 0
        for signup in signups.values():
            try:
                with transaction.atomic():
                    Signup.objects.bulk_create([signup])
                inserted += 1
            except IntegrityError:
                continue
        return inserted


def _insert_columns(signups: list[Signup], live_columns: set[str]) -> int:
    """Insert into a live table whose columns differ from the model's (after a rollback to an
    older schema): only the columns it has, one savepoint per signup."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    fields = [f for f in Signup._meta.concrete_fields if f.column in live_columns]
    inserted = 0
    for signup in signups:
        row = [f for f in fields if not (f.primary_key and signup.pk is None)]
        values = [f.get_db_prep_save(getattr(signup, f.attname), connection) for f in row]
        sql = (
            f"INSERT INTO {quote(Signup._meta.db_table)} "  # noqa: S608 - quoted names only
            f"({', '.join(quote(f.column) for f in row)}) VALUES ({', '.join(['%s'] * len(row))})"
        )
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, values)
            inserted += 1
        except IntegrityError:
            continue  # signed up again since, under the same email
    return inserted


def _signup_from(record: dict[str, Any]) -> Signup:
    values = {
        f.attname: f.to_python(record[f.column])
        for f in Signup._meta.concrete_fields
        if f.column in record
    }
    values["email"] = normalize_email(values["email"])
    created_at = values.get("created_at")
    if isinstance(created_at, datetime.datetime) and timezone.is_naive(created_at):
        values["created_at"] = timezone.make_aware(created_at, datetime.UTC)
    return Signup(**values)


def _reset_sequence(alias: str) -> None:
    """After inserting explicit ids, PostgreSQL's id sequence must move past them."""
    connection = connections[alias]
    statements = connection.ops.sequence_reset_sql(no_style(), [Signup])
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def _add_sample(result: MergeResult | RestorePreview, batch: list[dict[str, Any]]) -> None:
    for record in batch[: SAMPLE_SIZE - len(result.sample)]:
        result.sample.append(
            {
                "id": record.get("id"),
                "full_name": record.get("full_name"),
                "email": record.get("email"),
                "created_at": str(record.get("created_at")),
            }
        )
