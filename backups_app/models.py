"""The backup catalogue: an index over the dump files and manifests in BACKUP_DIR (§4.2)."""

from django.db import models
from django.utils import timezone

from backups_app.migration_safety.levels import Level


class Backup(models.Model):
    class Kind(models.TextChoices):
        AUTO = "auto", "automatic"
        MANUAL = "manual", "manual"
        SCHEDULED = "scheduled", "scheduled"
        PRE_MIGRATION = "pre_migration", "before a migration"
        PRE_RESTORE = "pre_restore", "before a restore"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    vendor = models.CharField(max_length=20)
    compression = models.CharField(max_length=10, default="none")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    newest_signup_id = models.BigIntegerField(null=True, blank=True)
    newest_signup_at = models.DateTimeField(null=True, blank=True)
    pinned = models.BooleanField(default=False)
    pin_reason = models.CharField(max_length=200, blank=True)
    shrink_detected = models.BooleanField(default=False)
    shrink_detail = models.CharField(max_length=1000, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_ok = models.BooleanField(null=True, blank=True)
    verification_detail = models.CharField(max_length=1000, blank=True)
    restore_tested = models.BooleanField(
        default=False,
        help_text="Whether the last verification restored it into a scratch database.",
    )
    restore_seconds = models.FloatField(
        null=True, blank=True, help_text="Measured restore time of the last restore test (RTO)."
    )
    error = models.CharField(max_length=4000, blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    # Off-site copy (§8.1). Kept out of the manifest: the copy's state is not the backup's.
    offsite_at = models.DateTimeField(
        null=True, blank=True, help_text="When the copy was complete off-site (manifest last)."
    )
    offsite_attempts = models.PositiveIntegerField(default=0)
    offsite_error = models.CharField(max_length=2000, blank=True)
    offsite_next_try_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        # Separate from Django's add/change/delete so each can be given on its own (§6.2).
        permissions = [
            ("create_backup", "Can create backups"),
            ("download_backup", "Can download backup files"),
            ("restore_backup", "Can restore backups"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        from backups_app import conf  # settings are read when called

        return (conf.backup_dir() / self.name).is_file()

    @property
    def location(self) -> str:
        """Where the backup lives: "local", "off-site", "both" (or "" when nowhere)."""
        local, offsite = self.is_local, self.offsite_at is not None
        return {(True, True): "both", (True, False): "local", (False, True): "off-site"}.get(
            (local, offsite), ""
        )


class PendingBackupRequest(models.Model):
    """A committed signup that no backup holds yet (§4.6). The worker turns these into backups.

    Recorded after the signup's transaction commits; marked covered by the first backup whose
    snapshot contains it, so a request is never covered twice and never dropped.
    """

    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    signup_id = models.BigIntegerField(null=True, blank=True)
    covered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    covered_by = models.CharField(max_length=100, blank=True, help_text="The backup's name.")

    class Meta:
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        state = f"covered by {self.covered_by}" if self.covered_at else "pending"
        return f"signup {self.signup_id} at {self.requested_at:%Y-%m-%d %H:%M:%S} ({state})"


class Export(models.Model):
    """A CSV export of the signups (§5): the file in EXPORT_DIR (or where --output put it)."""

    name = models.CharField(max_length=100, unique=True)
    path = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    row_count = models.BigIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_signups", "Can export signups to CSV")]

    def __str__(self) -> str:
        return self.name


class SchemaChange(models.Model):
    """The ledger of guarded `migrate` runs (§7): what was planned, the risk, the backup taken
    first, why it was allowed, who ran it, and how it ended. Kept across restores."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "running"
        APPLIED = "applied", "applied"
        FAILED = "failed", "failed"
        REFUSED = "refused", "refused"
        ROLLED_BACK = "rolled_back", "rolled back"

    #: The migration guard's levels (migration_safety.levels.Level) as stored text.
    Risk = models.TextChoices("Risk", [(level.name, (level.label, level.label)) for level in Level])

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    risk = models.CharField(max_length=10, choices=Risk.choices, default=Risk.NONE)
    database = models.CharField(max_length=100, default="default")
    migrations = models.JSONField(
        default=list, blank=True, help_text="The planned migrations, in order."
    )
    plan = models.JSONField(default=dict, blank=True, help_text="The full risk report.")
    backup_name = models.CharField(
        max_length=100, blank=True, help_text="The verified pre-migration backup."
    )
    reason = models.CharField(max_length=1000, blank=True)
    allowed_dangerous = models.BooleanField(default=False)
    triggered_by = models.CharField(max_length=150, blank=True)
    applied_before = models.JSONField(
        default=list, blank=True, help_text="Applied migrations before the run (the schema state)."
    )
    applied_after = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=4000, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.CharField(max_length=150, blank=True)
    rollback_detail = models.CharField(max_length=2000, blank=True)

    # No rollback permission: a rollback is `manage.py rollback_schema_change`, run by whoever
    # runs `migrate`; admin shows the ledger and offers no rollback button to guard.
    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"schema change #{self.pk} ({self.outcome}, risk {self.risk})"
