"""The risk report of a migration plan: what `migrate` prints and `migration_risk` returns."""

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from backups_app.migration_safety.classify import Risk
from backups_app.migration_safety.deploy import Deploy
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.review import Review, ReviewStatus


class Action(enum.StrEnum):
    """What `migrate` does with a plan (RiskReport.action): the report's "action"."""

    NOTHING = "nothing"
    APPLY = "apply"
    BACKUP_THEN_APPLY = "backup_then_apply"
    REFUSE = "refuse"


#: The keys of a report line, in the order its JSON has always had them: where the operation
#: stands, its data verdict, whether it was reviewed, then its deploy verdict.
REPORT_KEYS = (
    "migration",
    "direction",
    "operation",
    "kind",
    "level",
    "reason",
    "table",
    "column",
    "rows",
    "safe_alternative",
    "reviewed",
    "deploy",
    "deploy_reason",
    "deploy_recipe",
    "lock_seconds",
)


@dataclass(kw_only=True)
class OperationRisk(Risk):
    """One line of the report: an operation's Risk, placed in its migration."""

    migration: str  # "app_label.0002_name"
    direction: str  # "apply" or "unapply"
    operation: str  # Django's description of the operation
    reviewed: bool = False

    @classmethod
    def of(cls, finding: Risk, **where) -> "OperationRisk":
        """The report line for a classify.Finding, placed by `where` (migration, direction,
        operation, reviewed)."""
        shared = {f.name: getattr(finding, f.name) for f in fields(Risk)}
        return cls(**{**shared, **where})

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.label
        data["deploy"] = self.deploy.label
        return {key: data[key] for key in REPORT_KEYS}


@dataclass
class PlannedMigration:
    name: str  # "app_label.0002_name"
    direction: str
    review: Review
    #: The migration's file, relative to the project when it lives inside it ("" if unknown).
    path: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.name,
            "direction": self.direction,
            "review": self.review.status,
            "review_reason": self.review.reason,
            "path": self.path,
        }


@dataclass
class RiskReport:
    database: str
    vendor: str
    #: Whether any table holds data; None when nothing is planned (the data was not read).
    has_data: bool | None = None
    migrations: list[PlannedMigration] = field(default_factory=list)
    operations: list[OperationRisk] = field(default_factory=list)
    #: False when a planned migration runs outside a transaction (Migration.atomic = False, or
    #: a database that cannot roll back DDL): a failure can leave part of it applied.
    atomic: bool = True

    @property
    def level(self) -> Level:
        return max((op.level for op in self.operations), default=Level.NONE)

    @property
    def deploy(self) -> Deploy:
        """The worst deploy verdict of the plan (§7.1)."""
        return max((op.deploy for op in self.operations), default=Deploy.SAFE)

    @property
    def deploy_unsafe(self) -> list[OperationRisk]:
        return [op for op in self.operations if op.deploy == Deploy.UNSAFE]

    @property
    def backup_required(self) -> bool:
        return self.level >= Level.MEDIUM

    @property
    def unreviewed_high(self) -> list[OperationRisk]:
        return [op for op in self.operations if op.level == Level.HIGH and not op.reviewed]

    @property
    def review_reasons(self) -> list[str]:
        """The reviews that let high-risk operations run (what the ledger records as why)."""
        high = {op.migration for op in self.operations if op.level == Level.HIGH}
        return [
            f"{m.name}: {m.review.reason}"
            for m in self.migrations
            if m.review.valid and m.name in high
        ]

    def action(self, *, allow_dangerous: bool = False) -> Action:
        """What `migrate` does with this plan."""
        if not self.migrations:
            return Action.NOTHING
        if self.unreviewed_high and not allow_dangerous:
            return Action.REFUSE
        return Action.BACKUP_THEN_APPLY if self.backup_required else Action.APPLY

    def as_dict(self, *, allow_dangerous: bool = False) -> dict[str, Any]:
        return {
            "database": self.database,
            "vendor": self.vendor,
            "has_data": self.has_data,
            "risk": self.level.label,
            "deploy": self.deploy.label,
            "backup_required": self.backup_required,
            "unreviewed_high": len(self.unreviewed_high),
            "atomic": self.atomic,
            "action": self.action(allow_dangerous=allow_dangerous),
            "migrations": [m.as_dict() for m in self.migrations],
            "operations": [op.as_dict() for op in self.operations],
        }

    def text(self) -> str:
        """The report as a terminal reads it: one block per operation that matters."""
        if not self.migrations:
            return "Migration safety: no migrations to apply."
        lines = [
            f"Migration safety report ({self.vendor}, "
            f"{'holds data' if self.has_data else 'no data yet'}): "
            f"risk {self.level.label.upper()}, deploy {self.deploy.label.upper()}"
        ]
        quiet = [
            op for op in self.operations if op.level == Level.NONE and op.deploy == Deploy.SAFE
        ]
        reviews = {m.name: m.review.reason for m in self.migrations}
        for op in self.operations:
            if op.level == Level.NONE and op.deploy == Deploy.SAFE:
                continue
            where = ".".join(part for part in (op.table, op.column) if part) or "-"
            rows = "?" if op.rows is None else str(op.rows)
            flag = f" [reviewed: {reviews.get(op.migration, '')}]" if op.reviewed else ""
            level = op.level.label.upper()
            deploy = op.deploy.label.upper()
            lines.append(
                f"  {level:6} deploy {deploy:7} {op.migration} ({op.direction}): "
                f"{op.operation}{flag}"
            )
            lines.append(f"         table {where}, rows affected {rows}: {op.reason}")
            if op.safe_alternative and op.level >= Level.MEDIUM:
                lines.append(f"         safer: {op.safe_alternative}")
            if op.deploy != Deploy.SAFE:
                lines.append(f"         deploy {deploy}: {op.deploy_reason}")
                if op.deploy_recipe:
                    lines.append(f"         safer deploy: {op.deploy_recipe}")
        if quiet:
            lines.append(
                f"  {len(quiet)} other operation(s) put no data at risk and are safe to deploy."
            )
        for migration in self.migrations:
            if migration.review.status == ReviewStatus.VOID:
                lines.append(
                    f"  Review of {migration.name} is VOID: the migration changed after it was "
                    "reviewed. Review it again."
                )
        return "\n".join(lines)

    def github_annotations(self) -> list[str]:
        """One GitHub Actions workflow command per risky operation: ::error for high data
        risk or an unsafe deploy, ::warning for medium risk or a deploy to take with caution."""
        paths = {m.name: m.path for m in self.migrations}
        found = []
        for op in self.operations:
            if op.level < Level.MEDIUM and op.deploy == Deploy.SAFE:
                continue
            severe = (op.level == Level.HIGH and not op.reviewed) or op.deploy == Deploy.UNSAFE
            parts = []
            if op.level >= Level.MEDIUM:
                parts.append(f"data {op.level.label}: {op.reason}")
            if op.deploy != Deploy.SAFE:
                parts.append(f"deploy {op.deploy.label}: {op.deploy_reason}")
                if op.deploy_recipe:
                    parts.append(f"safer: {op.deploy_recipe}")
            title = f"{op.migration}: {op.operation}"
            found.append(
                f"::{'error' if severe else 'warning'} "
                f"file={_escape_property(paths.get(op.migration, ''))},"
                f"title={_escape_property(title)}::{_escape_data('; '.join(parts))}"
            )
        return found


def _escape_data(text: str) -> str:
    # What GitHub's toolkit (@actions/core) escapes in a workflow command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
