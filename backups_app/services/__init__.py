"""Every backup, restore, verification and rotation happens here (thin callers elsewhere)."""

from backups_app.services.auto import (
    WorkerPass,
    backup_request_record,
    backup_requests_flush,
    backup_scheduled_run,
    backup_worker_pass,
)
from backups_app.services.catalogue import backup_catalogue_sync
from backups_app.services.create import backup_create
from backups_app.services.export import export_rotate, waitlist_export_csv
from backups_app.services.merge import (
    MergeResult,
    RestorePreview,
    backup_diff,
    backup_merge,
    backup_restore_preview,
)
from backups_app.services.restore import RestoreResult, backup_restore
from backups_app.services.rotate import backup_rotate
from backups_app.services.verify import (
    Verification,
    backup_restore_test_latest,
    backup_verify,
    backup_verify_selected,
)

__all__ = [
    "MergeResult",
    "RestorePreview",
    "RestoreResult",
    "Verification",
    "WorkerPass",
    "backup_catalogue_sync",
    "backup_create",
    "backup_diff",
    "backup_merge",
    "backup_request_record",
    "backup_requests_flush",
    "backup_restore",
    "backup_restore_preview",
    "backup_restore_test_latest",
    "backup_rotate",
    "backup_scheduled_run",
    "backup_verify",
    "backup_verify_selected",
    "backup_worker_pass",
    "export_rotate",
    "waitlist_export_csv",
]
