"""The ledger of guarded `migrate` runs (§7), read-only."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from backups_app.models import Backup, SchemaChange
from backups_app.services.schema_change import schema_change_rollback_check


@admin.register(SchemaChange)
class SchemaChangeAdmin(admin.ModelAdmin):
    """The ledger of guarded `migrate` runs. An audit trail: nobody adds, edits or deletes it
    here, superusers included; rolling back is `manage.py rollback_schema_change`."""

    list_display = [
        "id",
        "started_at",
        "outcome_label",
        "risk",
        "migration_names",
        "backup",
        "triggered_by",
        "short_reason",
    ]
    list_display_links = ["id", "started_at"]
    list_filter = ["outcome", "risk"]
    search_fields = ["reason", "triggered_by", "backup_name"]
    date_hierarchy = "started_at"
    list_per_page = 50

    class Media:
        css = {"all": ["backups_app/schema_change.css"]}

    fieldsets = [
        (None, {"fields": ["outcome", "risk", "database", "started_at", "finished_at"]}),
        ("Plan", {"fields": ["migrations", "plan_table"]}),
        ("Why it ran", {"fields": ["reason", "allowed_dangerous", "triggered_by"]}),
        ("Result", {"fields": ["error", "applied_by_run"]}),
        (
            "Backup and rollback",
            {
                "fields": [
                    "backup",
                    "rollback_command",
                    "rolled_back_at",
                    "rolled_back_by",
                    "rollback_detail",
                ]
            },
        ),
        (
            "Schema state and risk report as stored",
            {"classes": ["collapse"], "fields": ["applied_before", "applied_after", "plan"]},
        ),
    ]
    readonly_fields = [
        *(f.name for f in SchemaChange._meta.fields),
        "plan_table",
        "applied_by_run",
        "backup",
        "rollback_command",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        # The backup is referenced by name; look its row up in the same query, not once per row.
        backup_pk = Backup.objects.filter(name=OuterRef("backup_name")).values("pk")[:1]
        return super().get_queryset(request).annotate(backup_pk=Subquery(backup_pk))

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, change: SchemaChange) -> str:
        label = change.get_outcome_display()
        if change.outcome in (SchemaChange.Outcome.FAILED, SchemaChange.Outcome.REFUSED):
            return format_html('<strong style="color: var(--error-fg)">{}</strong>', label)
        return label

    @admin.display(description="migrations")
    def migration_names(self, change: SchemaChange) -> str:
        shown = ", ".join(change.migrations[:3])
        hidden = len(change.migrations) - 3
        return f"{shown} (+{hidden} more)" if hidden > 0 else shown or "—"

    @admin.display(description="backup", ordering="backup_name")
    def backup(self, change: SchemaChange) -> str:
        if not change.backup_name:
            return "—"
        if change.backup_pk is None:
            return change.backup_name  # rotated away, or never catalogued
        url = reverse("admin:backups_app_backup_change", args=[change.backup_pk])
        return format_html('<a href="{}">{}</a>', url, change.backup_name)

    @admin.display(description="reason")
    def short_reason(self, change: SchemaChange) -> str:
        return Truncator(change.reason).chars(60)

    @admin.display(description="operations")
    def plan_table(self, change: SchemaChange) -> str:
        """The risk report: operations that put data at risk first, the harmless ones folded
        away (a plan of thirty migrations is mostly CreateModel and AddIndex)."""
        plan = change.plan if isinstance(change.plan, dict) else {}
        operations = [
            _operation_row(op) for op in plan.get("operations") or [] if isinstance(op, dict)
        ]
        return render_to_string(
            "admin/backups_app/schemachange/_plan_table.html",
            {
                "risk": plan.get("risk", change.risk),
                "action": plan.get("action") or "—",
                "has_data": plan.get("has_data"),
                "risky": [op for op in operations if op["level"] != "none"],
                "quiet": [op for op in operations if op["level"] == "none"],
            },
        )

    @admin.display(description="applied by this run")
    def applied_by_run(self, change: SchemaChange) -> str:
        done = sorted(set(change.applied_after or []) - set(change.applied_before or []))
        return ", ".join(done) or "—"

    @admin.display(description="roll back with")
    def rollback_command(self, change: SchemaChange) -> str:
        # The rollback's own checks decide, so the page never offers a command it would refuse.
        try:
            schema_change_rollback_check(change_id=change.pk)
        except ValidationError as err:
            return "; ".join(err.messages)
        return format_html("<code>manage.py rollback_schema_change {}</code>", change.pk)


def _operation_row(operation: dict) -> dict:
    """One operation of a stored plan, as the plan table shows it (the fields `migrate`
    prints). A plan is JSON from an older or newer release: any key may be missing."""
    return {
        "level": str(operation.get("level") or "").lower(),
        "reviewed": bool(operation.get("reviewed")),
        "migration": operation.get("migration", ""),
        "direction": operation.get("direction", ""),
        "operation": operation.get("operation", ""),
        "where": ".".join(
            str(part) for part in (operation.get("table"), operation.get("column")) if part
        ),
        "rows": operation.get("rows"),
        "reason": operation.get("reason", ""),
        "safe_alternative": operation.get("safe_alternative") or "",
    }
