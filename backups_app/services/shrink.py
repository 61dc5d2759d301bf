"""The shrink guard (§4.3): a backup holding less data than the one before is flagged, and that
earlier backup pinned, so rotation never deletes the last copy taken before the data went.

Run by `services.create` after each successful backup; a module of its own because it reads the
catalogue and the restore record, not the dump.
"""

from backups_app import conf
from backups_app.alerts import alert_admins, logger
from backups_app.exceptions import VerificationError
from backups_app.models import Backup
from backups_app.restore_record import restored_state
from backups_app.services.catalogue import manifest_update
from waitlist.models import Signup, fitted

SIGNUP_TABLE = Signup._meta.db_table


def backup_shrink_guard(*, backup: Backup) -> None:
    """Flag a backup whose tables shrank against the previous one, and pin that previous one.

    The July incident (a table dropped and recreated) shows up here as the signup table falling
    to a fraction of its size: any lost signup counts, other tables past BACKUP_SHRINK_THRESHOLD.
    """
    previous = (
        Backup.objects.filter(status=Backup.Status.SUCCEEDED, vendor=backup.vendor)
        .filter(started_at__lt=backup.started_at)
        .order_by("-started_at")
        .first()
    )
    if previous is None:
        return
    # After a deliberate restore, what it put back is the baseline, not the data it replaced.
    restored = restored_state(after=previous.started_at)
    if restored is not None and restored["at"] < backup.started_at:
        baseline, against = restored["row_counts"], f"the restore of {restored['restored']}"
    else:
        baseline, against = previous.row_counts, f"{previous.name}, now pinned"
    threshold = conf.shrink_threshold()
    ignored = conf.shrink_ignored_tables()
    shrunk = []
    for table, before in sorted(baseline.items()):
        if table in ignored or table.startswith("backups_app_") or before <= 0:
            continue
        after = backup.row_counts.get(table, 0)
        lost = before - after
        if lost <= 0:
            continue
        if (table == SIGNUP_TABLE and lost >= 1) or lost / before > threshold:
            shrunk.append({"table": table, "before": before, "after": after})
    if not shrunk:
        return
    detail = "; ".join(f"{s['table']}: {s['before']} -> {s['after']} rows" for s in shrunk)
    detail = f"{detail} (against {against})"
    shrink = {"previous": previous.name, "tables": shrunk, "detail": detail}
    manifest_update(backup=backup, shrink=shrink)
    reason = f"last backup before the shrink seen in {backup.name}"
    try:
        manifest_update(backup=previous, pinned=True, pin_reason=reason)
    except VerificationError as err:  # not ours to sign (another installation's): pin it here
        logger.warning("pinned %s in the catalogue only: %s", previous.name, err)
        previous.pinned, previous.pin_reason = True, fitted(Backup, "pin_reason", reason)
        previous.save(update_fields=["pinned", "pin_reason"])
    alert_admins(f"Backup {backup.name}: data shrank", detail)
