"""Write real migration files for the lab app, install it, fill its table, and clean up.

Every scenario is the same 0001_initial (table lab_entry) followed by the migrations a test
gives as source text, written into a fresh package on disk, so the guard reads real files.
"""

import contextlib
import sys
import textwrap
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

APP = "migration_lab"
TABLE = "lab_entry"

#: The start of a 0001_initial migration, up to the items of its operations list.
INITIAL_HEAD = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
"""

INITIAL = (
    INITIAL_HEAD
    + """\
        migrations.CreateModel(
            name="Entry",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=100)),
                ("nickname", models.CharField(max_length=100, null=True)),
                ("code", models.CharField(max_length=20, null=True)),
                ("score", models.IntegerField(null=True)),
            ],
            options={"db_table": "lab_entry"},
        ),
        migrations.AddConstraint(
            model_name="entry",
            constraint=models.CheckConstraint(
                condition=models.Q(score__gte=0) | models.Q(score__isnull=True),
                name="lab_entry_score_not_negative",
            ),
        ),
    ]
"""
)

HEADER = """
from django.db import migrations, models
from django.db.models import Q
"""

#: The rows "with data" tests put in lab_entry: two share a name, one nickname is NULL.
ROWS = [
    ("Alexandra", "Alex", "A1", 10),
    ("Bartholomew", None, "B2", 20),
    ("Bartholomew", "Bart", None, None),
]


class Lab:
    """The lab app installed with a migrations package of its own on disk."""

    def __init__(self, root: Path, package: str) -> None:
        self.root = root
        self.package = package
        self.folder = root / package

    def migration(
        self,
        name: str,
        operations: str,
        *,
        functions: str = "",
        depends: str = "0001_initial",
        atomic: bool = True,
    ) -> Path:
        """Write migrations/<name>.py with `operations` (the source of the operations list's
        items) and any module-level `functions` (for RunPython) before the class."""
        dependency = f'("{APP}", "{depends}")' if depends else ""
        source = (
            HEADER
            + "\n"
            + textwrap.dedent(functions)
            + "\n\nclass Migration(migrations.Migration):\n"
            + f"    dependencies = [{dependency}]\n"
            + ("" if atomic else "    atomic = False\n")
            + "\n"
            + "    operations = [\n"
            + textwrap.indent(textwrap.dedent(operations).strip() + "\n", "        ")
            + "    ]\n"
        )
        path = self.folder / f"{name}.py"
        path.write_text(source)
        self.forget()
        return path

    def forget(self) -> None:
        """Drop the imported migration modules so the next load reads the files again."""
        for module in [
            m for m in sys.modules if m == self.package or m.startswith(self.package + ".")
        ]:
            del sys.modules[module]

    def insert_rows(self, rows=ROWS) -> None:
        with connection.cursor() as cursor:
            for name, nickname, code, score in rows:
                cursor.execute(
                    f"INSERT INTO {TABLE} (name, nickname, code, score) VALUES (%s, %s, %s, %s)",  # noqa: S608
                    [name, nickname, code, score],
                )

    def count(self, table: str = TABLE) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            return cursor.fetchone()[0]

    def columns(self, table: str = TABLE) -> list[str]:
        with connection.cursor() as cursor:
            return [c.name for c in connection.introspection.get_table_description(cursor, table)]

    def tables(self) -> set[str]:
        with connection.cursor() as cursor:
            return set(connection.introspection.table_names(cursor))

    def applied(self) -> set[str]:
        return {
            name for app, name in MigrationRecorder(connection).applied_migrations() if app == APP
        }


@contextlib.contextmanager
def lab_app(root: Path, *, initial: bool = True):
    """Install the lab app with a fresh migrations package under `root`; remove its tables and
    its migration records afterwards."""
    package = f"labmigrations_{uuid.uuid4().hex[:10]}"
    folder = root / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    if initial:
        (folder / "0001_initial.py").write_text(INITIAL)
    sys.path.insert(0, str(root))
    lab = Lab(root, package)
    try:
        with override_settings(
            INSTALLED_APPS=[
                *settings.INSTALLED_APPS,
                "tests.migration_lab.apps.LabConfig",
            ],
            MIGRATION_MODULES={APP: package},
        ):
            yield lab
    finally:
        _drop_lab_tables()
        lab.forget()
        sys.path.remove(str(root))


def _drop_lab_tables() -> None:
    connection.close()  # a restore may have replaced the database under this connection
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            # Tables named by db_table, and by Django for a model without one.
            if table.startswith(("lab_", f"{APP}_")):
                cascade = " CASCADE" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}{cascade}")
    MigrationRecorder(connection).migration_qs.filter(app=APP).delete()
