"""The ledger of guarded `migrate` runs (§7), read-only."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from backups_app.exceptions import error_text
from backups_app.migration_safety.deploy import Deploy
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.report import Action
from backups_app.models import Backup, SchemaChange
from backups_app.services.schema_change import schema_change_rollback_check
from waitlist.admin import ViewOnlyAdmin

#: What `migrate` did with the plan (RiskReport.action), as a sentence reads it.
ACTION_WORDS = {
    Action.NOTHING: "nothing to apply",
    Action.APPLY: "applied without a backup",
    Action.BACKUP_THEN_APPLY: "backed up and verified first, then applied",
    Action.REFUSE: "refused unless reviewed or allowed",
}


@admin.register(SchemaChange)
class SchemaChangeAdmin(ViewOnlyAdmin, admin.ModelAdmin):
    """The ledger of guarded `migrate` runs. An audit trail: nobody adds, edits or deletes it
    here, superusers included; rolling back is `manage.py rollback_schema_change`."""

    # Five columns, not eight: beside admin's navigation and filter a 1280 px screen leaves the
    # list about 630 px, and the id, who and risk read well beside the time, reason and outcome.
    list_display = ["started", "outcome_label", "migration_names", "backup", "why"]
    list_display_links = ["started"]
    list_filter = ["outcome", "risk"]
    search_fields = ["reason", "triggered_by", "backup_name"]
    date_hierarchy = "started_at"
    list_per_page = 50

    class Media:
        css = {"all": ["backups_app/schema_change.css"]}

    fieldsets = [
        (None, {"fields": ["outcome", "risk", "database", "started_at", "finished_at"]}),
        ("Plan", {"fields": ["migration_list", "plan_table"]}),
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
            {
                "classes": ["collapse"],
                "fields": ["migrations", "applied_before", "applied_after", "plan"],
            },
        ),
    ]
    readonly_fields = [
        *(f.name for f in SchemaChange._meta.fields),
        "migration_list",
        "plan_table",
        "applied_by_run",
        "backup",
        "rollback_command",
    ]

    def get_fieldsets(self, request: HttpRequest, obj=None) -> list:
        # What happened, not a column of dashes: no error row when there was none, no
        # rolled-back rows for a change never rolled back.
        hidden = set()
        if obj is not None and not obj.error:
            hidden.add("error")
        if obj is not None and obj.rolled_back_at is None:
            hidden |= {"rolled_back_at", "rolled_back_by", "rollback_detail"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in super().get_fieldsets(request, obj)
        ]

    def get_queryset(self, request: HttpRequest):
        # The backup is referenced by name; look its row up in the same query, not once per row.
        backup_pk = Backup.objects.filter(name=OuterRef("backup_name")).values("pk")[:1]
        return super().get_queryset(request).annotate(backup_pk=Subquery(backup_pk))

    @admin.display(description="started", ordering="started_at")
    def started(self, change: SchemaChange) -> str:
        # "5 Dec 2026 05:17" on one line: admin's long format takes three at this width.
        when = date_format(timezone.localtime(change.started_at), "j M Y H:i")
        return format_html('#{}<br><span class="nowrap">{}</span>', change.pk, when)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, change: SchemaChange) -> str:
        label = change.get_outcome_display()
        if change.outcome in (SchemaChange.Outcome.FAILED, SchemaChange.Outcome.REFUSED):
            label = format_html('<strong class="schema-change-failed">{}</strong>', label)
        return format_html('{}<br><span class="quiet">risk {}</span>', label, change.risk)

    @admin.display(description="migrations")
    def migration_names(self, change: SchemaChange) -> str:
        if not change.migrations:
            return "—"
        split = (name.partition(".") for name in change.migrations[:3])
        names = format_html_join(
            mark_safe("<br>"),
            "{}",
            # "waitlist.<wbr>0007_drop_phone"
            ((_breakable(app + dot, rest),) for app, dot, rest in split),
        )
        hidden = len(change.migrations) - 3
        return format_html("{} (+{} more)", names, hidden) if hidden > 0 else names

    @admin.display(description="backup", ordering="backup_name")
    def backup(self, change: SchemaChange) -> str:
        if not change.backup_name:
            return "—"
        if change.backup_pk is None:
            return change.backup_name  # rotated away, or never catalogued
        url = reverse("admin:backups_app_backup_change", args=[change.backup_pk])
        return format_html('<a href="{}">{}</a>', url, change.backup_name)

    @admin.display(description="why, by whom")
    def why(self, change: SchemaChange) -> str:
        who, at, host = change.triggered_by.rpartition("@")
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            Truncator(change.reason).chars(60) or "—",
            _breakable(who, at + host) if change.triggered_by else "—",
        )

    @admin.display(description="migrations")
    def migration_list(self, change: SchemaChange) -> str:
        """The planned migrations in order; a long plan folded behind its first and last."""
        names = [str(name) for name in change.migrations or []]
        if len(names) <= 5:
            return ", ".join(names) or "—"
        return format_html(
            "<details><summary>{} migrations, {} to {}</summary>{}</details>",
            len(names),
            names[0],
            names[-1],
            ", ".join(names),
        )

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
                "action": ACTION_WORDS.get(plan.get("action"), plan.get("action") or "—"),
                "has_data": plan.get("has_data"),
                "risky": [op for op in operations if _matters(op)],
                "quiet": [op for op in operations if not _matters(op)],
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
            return error_text(err)
        return format_html("<code>manage.py rollback_schema_change {}</code>", change.pk)


def _breakable(head: str, tail: str) -> str:
    """`head` and `tail`, escaped, with a place to break between them, so that a long name
    wraps there rather than widening the table."""
    return format_html("{}<wbr>{}", head, tail)


def _matters(operation: dict) -> bool:
    """Shown unfolded: a risk to the data, or to the site while it deploys."""
    risky = operation["level"] != Level.NONE.label
    return risky or operation["deploy"] not in ("", Deploy.SAFE.label)


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
        # The second verdict (§7.1): "" in plans recorded before it existed.
        "deploy": str(operation.get("deploy") or "").lower(),
        "deploy_reason": operation.get("deploy_reason") or "",
        "deploy_recipe": operation.get("deploy_recipe") or "",
    }
