"""Our migration_risk beside django-migration-linter and squawk, scored on the measured corpus.

Run by hand on PostgreSQL: `.venv/bin/python bench/migration_corpus.py`. For every case of
tests/migration_lab/corpus it seeds the base, then asks each tool about the change:

- ours: `migration_risk --json`; data alarm = an operation at level high, deploy alarm = an
  operation whose "deploy" is "unsafe" (n/a when the report has no "deploy" key); a second row
  counts level medium too, the level at which the guard takes a backup first;
- django-migration-linter (`lintmigrations --sql-analyser postgresql`): data alarm = ERR,
  deploy alarm = ERR or WARNING;
- squawk on the SQL that `sqlmigrate` prints: any rule except the hygiene ones that fire on
  every statement (timeouts, IF [NOT] EXISTS, preferred types) is an alarm on both axes.

Then it applies the change and measures the truth (truth.py), and prints caught / false alarms /
missed per axis and per tool. The peers come from a throwaway virtualenv (PEERS_VENV, default
/tmp/peers), never from the project's requirements:

    python3.11 -m venv /tmp/peers
    /tmp/peers/bin/pip install django-migration-linter squawk-cli "Django==5.2.*" "psycopg[binary]"

MIGRATION_CORPUS_DATABASE_URL picks the PostgreSQL database (created if missing; default
postgres://postgres@127.0.0.1:5432/migration_corpus). CORPUS_CASES=a,b runs only those cases.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

PROJECT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("PEERS_VENV", "/tmp/peers"))  # noqa: S108 - a throwaway venv
DATABASE_URL = os.environ.get(
    "MIGRATION_CORPUS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/migration_corpus"
)
#: squawk rules about hygiene rather than data or locks: they fire on nearly every statement.
SQUAWK_HYGIENE = {
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "prefer-robust-stmts",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
    "transaction-nesting",
}
PEER_SETTINGS = """
SECRET_KEY = "migration-corpus-bench-only"
USE_TZ = True
INSTALLED_APPS = ["django_migration_linter", "tests.migration_lab.apps.LabConfig"]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": {name!r}, "USER": {user!r},
    "PASSWORD": {password!r}, "HOST": {host!r}, "PORT": {port!r},
}}}}
MIGRATION_MODULES = {{"migration_lab": {package!r}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""


def ensure_database(url: str) -> None:
    parts = urlparse(url)
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    result = subprocess.run(
        ["createdb", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
         "-U", parts.username or "postgres", parts.path.lstrip("/")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "already exists" not in result.stderr:
        sys.exit(f"createdb failed: {result.stderr.strip()}")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waitlist_site.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_ENV_FILE", "/dev/null")
    os.environ.setdefault("BACKUP_DIR", tempfile.mkdtemp(prefix="corpus-backups-"))
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()


def ours(app: str) -> tuple[bool, bool, bool | None, str]:
    """migration_risk --json: (data alarm, medium or high, deploy alarm or None if absent, note)."""
    from django.core.management import CommandError, call_command

    from backups_app.migration_safety.deploy import Deploy
    from backups_app.migration_safety.levels import Level

    out = io.StringIO()
    # Exit 1 on a blocker: the JSON is printed all the same.
    with contextlib.suppress(CommandError):
        call_command("migration_risk", app, json=True, stdout=out)
    report = json.loads(out.getvalue())
    operations = report.get("operations", [])
    levels = [Level.from_label(op["level"]) for op in operations if "level" in op]
    data = Level.HIGH in levels
    backed_up = any(level >= Level.MEDIUM for level in levels)
    if operations and all("deploy" in op for op in operations):
        deploy = any(op["deploy"] == Deploy.UNSAFE.label for op in operations)
    elif not operations and "deploy" in report:
        deploy = report["deploy"] == Deploy.UNSAFE.label
    else:
        deploy = None
    note = ",".join(f"{op.get('level')}/{op.get('deploy', '-')}" for op in operations)
    return data, backed_up, deploy, note


def django_migration_linter(root: Path, package: str) -> tuple[bool, bool, str]:
    parts = urlparse(DATABASE_URL)
    settings_dir = Path(tempfile.mkdtemp(prefix="corpus-dml-"))
    peer_settings = PEER_SETTINGS.format(
        name=parts.path.lstrip("/"),
        user=parts.username or "postgres",
        password=parts.password or "",
        host=parts.hostname or "127.0.0.1",
        port=str(parts.port or 5432),
        package=package,
    )
    (settings_dir / "corpus_peer_settings.py").write_text(peer_settings)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "corpus_peer_settings",
        "PYTHONPATH": os.pathsep.join([str(settings_dir), str(root), str(PROJECT)]),
    }
    result = subprocess.run(
        [str(PEERS / "bin" / "python"), "-m", "django", "lintmigrations", "migration_lab",
         "--no-cache", "--sql-analyser", "postgresql", "--include-name", "0002_change",
         "--project-root-path", str(root)],
        capture_output=True, text=True, env=env, cwd=root, check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    verdict = next((line for line in lines if "0002_change" in line), "")
    if not verdict:
        raise RuntimeError(f"lintmigrations said nothing: {result.stdout}{result.stderr}")
    error = verdict.rstrip().endswith(("ERR", "ERR (cached)"))
    warning = "WARNING" in verdict
    reasons = [line.strip() for line in lines if line.startswith("\t") or line.startswith("    ")]
    return error, error or warning, "; ".join(reasons)[:80]


def squawk(sql: list[str]) -> tuple[bool, str]:
    text = "\n".join(s for s in sql if not s.lstrip().startswith("--")) + "\n"
    if not text.strip():
        return False, "no SQL"
    result = subprocess.run(
        [str(PEERS / "bin" / "squawk"), "--reporter", "json"],
        input=text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rules = sorted({v["rule_name"] for v in json.loads(result.stdout or "[]")} - SQUAWK_HYGIENE)
    return bool(rules), ",".join(rules)


def score(rows: list[dict], tool: str, axis: str) -> str:
    alarms = [(row[tool][axis], row["truth"][axis]) for row in rows]
    if any(alarm is None for alarm, _ in alarms):
        return "n/a"
    caught = sum(1 for alarm, truth in alarms if alarm and truth)
    false = sum(1 for alarm, truth in alarms if alarm and not truth)
    missed = sum(1 for alarm, truth in alarms if truth and not alarm)
    return f"{caught}/{false}/{missed}"


def main() -> None:
    ensure_database(DATABASE_URL)
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.test import override_settings

    from tests.migration_lab.corpus.cases import CASES
    from tests.migration_lab.corpus.truth import (
        APP,
        drop_lab_tables,
        measure,
        new_package,
        prepare,
    )

    if connection.vendor != "postgresql":
        sys.exit("the corpus bench runs on PostgreSQL")
    call_command("migrate", verbosity=0)
    wanted = [n for n in os.environ.get("CORPUS_CASES", "").split(",") if n]
    cases = [case for case in CASES if not wanted or case.name in wanted]
    rows = []
    for case in cases:
        root = Path(tempfile.mkdtemp(prefix="corpus-"))
        package = new_package()
        sys.path.insert(0, str(root))
        try:
            with override_settings(
                INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.migration_lab.apps.LabConfig"],
                MIGRATION_MODULES={APP: package},
            ):
                drop_lab_tables()
                prepare(case, root)
                executor = MigrationExecutor(connection)
                sql = executor.loader.collect_sql(executor.migration_plan([(APP, "0002_change")]))
                our_data, our_backup, our_deploy, our_note = ours(APP)
                dml_data, dml_deploy, dml_note = django_migration_linter(root, package)
                sq_alarm, sq_note = squawk(sql)
                drop_lab_tables()
                truth = measure(case, root).truth
                drop_lab_tables()
        finally:
            sys.path.remove(str(root))
        rows.append(
            {
                "case": case.name,
                "truth": {"data": truth.data_lost, "deploy": truth.unsafe_for_deploy},
                "ours": {"data": our_data, "deploy": our_deploy},
                "ours_medium": {"data": our_backup, "deploy": our_deploy},
                "dml": {"data": dml_data, "deploy": dml_deploy},
                "squawk": {"data": sq_alarm, "deploy": sq_alarm},
                "notes": (our_note, dml_note, sq_note),
            }
        )
        if truth != case.truth_on("postgresql"):
            print(f"warning: {case.name} measured {truth}, its label says otherwise")

    def mark(value):
        return "-" if value is None else ("X" if value else ".")

    print(f"\n{'case':32} truth  ours   DML    squawk   (data deploy; X = yes/alarm)")
    for row in rows:
        cells = [
            mark(row[k]["data"]) + " " + mark(row[k]["deploy"])
            for k in ("truth", "ours", "dml", "squawk")
        ]
        print(f"{row['case']:32} " + "    ".join(cells) + "    " + " | ".join(row["notes"]))
    data_truth = sum(row["truth"]["data"] for row in rows)
    deploy_truth = sum(row["truth"]["deploy"] for row in rows)
    print(
        f"\n{len(rows)} cases on PostgreSQL; {data_truth} lose data, {deploy_truth} are unsafe "
        "for a zero-downtime deploy (measured).\ncaught/false alarms/missed:"
    )
    print(f"{'tool':32} {'data loss':>12} {'deploy':>12}")
    names = {
        "ours": "migration_risk",
        "ours_medium": "migration_risk (data: medium+)",
        "dml": "django-migration-linter",
        "squawk": "squawk",
    }
    for key, name in names.items():
        print(f"{name:32} {score(rows, key, 'data'):>12} {score(rows, key, 'deploy'):>12}")


if __name__ == "__main__":
    main()
