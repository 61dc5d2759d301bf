"""`manage.py migration_risk`: the guard's report for pending migrations, applying nothing.

Exits non-zero when the axis CI blocks on (`--fail-on`) finds something: unreviewed high data
risk (data, the default), an operation unsafe to deploy (deploy), or either (both).
"""

from django.core.management.base import CommandError
from django.db import connections

from backups_app.management.base import BackupCommand
from backups_app.migration_safety.plan import migration_risk_report


class Command(BackupCommand):
    help = (
        "Show what the pending migrations would do to the live data and to the site while they "
        "deploy (read-only). Exit status 1 when the --fail-on axis finds a blocker."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)  # --json: the same as --format json
        parser.add_argument("app_label", nargs="?", help="Only this app's migrations.")
        parser.add_argument("migration_name", nargs="?", help="Up (or back) to this migration.")
        parser.add_argument(
            "--database", default="default", choices=tuple(connections), help="Which database."
        )
        parser.add_argument(
            "--format",
            default="text",
            choices=("text", "json", "github"),
            help="text for a terminal, json for scripts, github for GitHub Actions annotations.",
        )
        parser.add_argument(
            "--fail-on",
            default="data",
            choices=("data", "deploy", "both"),
            help="Exit 1 on unreviewed high data risk (data), on an operation unsafe to deploy "
            "(deploy), or on either (both).",
        )

    def execute(self, *args, **options):
        if options.get("format") == "json":
            options["json"] = True
        return super().execute(*args, **options)

    def handle(self, *args, **options) -> None:
        report = migration_risk_report(
            database=options["database"],
            app_label=options["app_label"],
            migration_name=options["migration_name"],
        )
        fail_on = options["fail_on"]
        blockers = []
        if fail_on in ("data", "both") and report.unreviewed_high:
            blockers.append(
                f"{len(report.unreviewed_high)} unreviewed high-risk operation(s) pending: "
                "migrate would refuse"
            )
        if fail_on in ("deploy", "both") and report.deploy_unsafe:
            blockers.append(
                f"{len(report.deploy_unsafe)} operation(s) unsafe to deploy while the site runs"
            )
        text = report.text()
        if options["format"] == "github" and not self.as_json:
            text = "\n".join([*report.github_annotations(), text])
        self.emit(report.as_dict(), text, ok=not blockers)
        if blockers:
            raise CommandError("; ".join(blockers) + ".")
