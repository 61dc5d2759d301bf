"""The erasure ledger against what this site stores (§12): signups it should have removed, and
the backups taken before an erasure that still hold the fan's data until rotation."""

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Max

from backups_app.alerts import logger
from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services.restore import restore_rules
from waitlist.models import Erasure, Signup


@dataclass
class ErasureSweep:
    dry_run: bool
    #: Live signups the ledger covers (none unless data was put back behind the app's back).
    found: int = 0
    removed: int = 0
    #: Kept backups taken before the newest erasure: they may still hold an erased fan's data.
    backups_before: list[str] = field(default_factory=list)
    #: Of those, the pinned ones, which rotation never removes.
    pinned_before: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "found": self.found,
            "removed": self.removed,
            "backups_before_newest_erasure": self.backups_before,
            "pinned_backups_before_newest_erasure": self.pinned_before,
        }

    def summary(self) -> str:
        if not self.found:
            text = "No signup of an erased fan is in the table."
        elif self.dry_run:
            text = f"{self.found} signup(s) of erased fans are in the table; would remove them."
        else:
            text = f"Removed {self.removed} signup(s) of erased fans from the table."
        if self.backups_before:
            text += (
                f" {len(self.backups_before)} kept backup(s) were taken before the newest "
                f"erasure and may still hold erased fans' data until rotation removes them "
                f"(oldest: {self.backups_before[0]})"
            )
            if self.pinned_before:
                text += f"; {len(self.pinned_before)} of them are pinned and never rotate"
            text += "."
        return text


def erasures_apply(*, dry_run: bool = False, triggered_by: str = "") -> ErasureSweep:
    """Remove the live signups the erasure ledger covers, as every restore does in its own
    transaction: for after an emergency restore with psql or sqlite3, which knows nothing of
    the ledger. Also names the kept backups older than the newest erasure."""
    sweep = ErasureSweep(dry_run=dry_run)
    newest = Erasure.objects.aggregate(newest=Max("erased_at"))["newest"]
    if newest is None:
        return sweep
    ids = get_engine().erased_signup_ids(rules=restore_rules())
    sweep.found = len(ids)
    if ids and not dry_run:
        with transaction.atomic():
            # Through the ORM, so the journal records the deletions too (§11).
            sweep.removed = Signup.objects.filter(pk__in=ids).delete()[1].get(Signup._meta.label, 0)
        logger.warning("erasures re-applied removed=%d by=%s", sweep.removed, triggered_by or "-")
    older = Backup.objects.filter(status=Backup.Status.SUCCEEDED, started_at__lt=newest).order_by(
        "started_at"
    )
    sweep.backups_before = [backup.name for backup in older]
    sweep.pinned_before = [backup.name for backup in older if backup.pinned]
    return sweep
