"""Read-only questions about the live data that the migration guard asks (counts only).

Every answer is an int or None. None means "could not tell" (a failed query, a table the
database does not have under that name) and the guard treats it as data at risk: it fails
closed, never open.
"""

from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Count, ExpressionWrapper, Q

# Tables Django refills on every migrate, the migration ledger itself, and the backup catalogue
# (an index rebuilt from the files): rows there are not data a migration can lose.
BOOKKEEPING_TABLES = {
    "django_migrations",
    "django_content_type",
    "auth_permission",
    "backups_app_schemachange",
    "backups_app_backup",
}


class DataProbe:
    """Counts rows in the live database, caching what it has asked. Every query is a SELECT in
    a savepoint, so a failing one cannot break a surrounding transaction.

    Walking a plan, later operations name tables and columns as earlier ones renamed or created
    them; `plan_rename_table`, `plan_create_table` and `plan_rename_column` keep the map from
    those planned names back to what the live database has.
    """

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self._tables: dict[str, str] | None = None  # lower-case name -> live name
        self._rows: dict[str, int | None] = {}
        self._has_data: bool | None = None
        self._planned_tables: dict[str, str | None] = {}  # planned -> live (None: new)
        self._planned_columns: dict[tuple[str, str], str] = {}

    # --- names ------------------------------------------------------------------------------
    def live_table(self, name: str) -> str | None:
        """The live table a (possibly planned, possibly differently spelled) name refers to."""
        if self._tables is None:
            with self.connection.cursor() as cursor:
                names = self.connection.introspection.table_names(cursor)
            self._tables = {n.lower(): n for n in names}
        key = name.lower()
        if key in self._planned_tables:
            return self._planned_tables[key]
        return self._tables.get(key)

    def is_new(self, name: str) -> bool:
        """Whether the plan itself creates this table (so it starts empty)."""
        key = name.lower()
        return key in self._planned_tables and self._planned_tables[key] is None

    def plan_rename_table(self, old: str, new: str) -> None:
        self._planned_tables[new.lower()] = self.live_table(old)

    def plan_create_table(self, name: str) -> None:
        if self.live_table(name) is None:
            self._planned_tables[name.lower()] = None

    def plan_rename_column(self, table: str, old: str, new: str) -> None:
        self._planned_columns[(table.lower(), new.lower())] = self._column(table, old)

    def _column(self, table: str, column: str) -> str:
        return self._planned_columns.get((table.lower(), column.lower()), column)

    # --- counts -----------------------------------------------------------------------------
    def rows(self, table: str) -> int | None:
        """Rows in `table`: 0 for a table the plan creates, None when it cannot be counted or
        the database has no such table (it may exist under a name the guard cannot see)."""
        if self.is_new(table):
            return 0
        live = self.live_table(table)
        if live is None:
            return None
        if live not in self._rows:
            found = self._scalar(f"SELECT COUNT(*) FROM {self._q(live)}")  # noqa: S608
            self._rows[live] = None if found is None else int(found)
        return self._rows[live]

    def has_data(self) -> bool:
        """Whether any table but Django's bookkeeping (and the cache) holds a row. A table that
        cannot be read counts as holding data."""
        if self._has_data is None:
            self.live_table("")
            skipped = BOOKKEEPING_TABLES | _cache_tables()
            self._has_data = any(
                self._scalar(f"SELECT 1 FROM {self._q(table)} LIMIT 1") is not None  # noqa: S608
                or not self._readable(table)
                for table in sorted(set(self._tables.values()) - skipped)
            )
        return self._has_data

    def non_null(self, table: str, column: str, *, text: bool = False) -> int | None:
        """Rows with a value in `column` (for text: a value other than '')."""
        name = self._q(self._column(table, column))
        condition = f"{name} IS NOT NULL" + (f" AND {name} <> ''" if text else "")
        return self._count(table, condition)

    def nulls(self, table: str, column: str) -> int | None:
        return self._count(table, f"{self._q(self._column(table, column))} IS NULL")

    def longer_than(self, table: str, column: str, length: int) -> int | None:
        """Rows whose value, written as text, is longer than `length` characters (what a
        max_length of `length` would not hold, whatever the column's type is now)."""
        column = self._q(self._column(table, column))
        return self._count(table, f"LENGTH(CAST({column} AS TEXT)) > {int(length)}")

    def not_integers(self, table: str, column: str) -> int | None:
        """Values of a text `column` that PostgreSQL's cast to an integer type rejects: anything
        but a sign and digits between spaces (a number too large for the type passes here)."""
        name = self._q(self._column(table, column))
        return self._count(table, rf"{name} IS NOT NULL AND {name} !~ '^\s*[-+]?[0-9]+\s*$'")

    def duplicates(self, model, fields: list[str], *, condition=None, nulls_distinct=True):
        """Rows of a (historical) model sharing their values of `fields` with another row, as a
        unique constraint would see them: only rows matching `condition`, and NULLs never
        clash unless `nulls_distinct` is False."""
        rows = self.rows(model._meta.db_table)
        if rows == 0:
            return 0
        queryset = model._base_manager.using(self.connection.alias)
        if condition is not None:
            queryset = queryset.filter(condition)
        if nulls_distinct is not False:
            queryset = queryset.filter(**{f"{name}__isnull": False for name in fields})
        clashes = queryset.values(*fields).annotate(n=Count("pk")).filter(n__gt=1)
        return self._orm(lambda: sum(group["n"] for group in clashes))

    def violating(self, model, condition: Q) -> int | None:
        """Rows of a (historical) model for which `condition` is false, as a CHECK constraint
        sees it: a condition that is NULL (unknown) passes."""
        rows = self.rows(model._meta.db_table)
        if rows == 0:
            return 0
        checked = model._base_manager.using(self.connection.alias).annotate(
            _guard_ok=ExpressionWrapper(condition, output_field=BooleanField())
        )
        return self._orm(lambda: checked.filter(_guard_ok=False).count())

    def matching(self, table: str, condition: str) -> int | None:
        """Rows of `table` that a migration's own WHERE `condition` (SQL text, read by sql.py)
        selects. The count runs in a savepoint that is always rolled back, read-only on
        PostgreSQL, so whatever the condition calls changes nothing; None when it cannot be
        counted (a column the plan renames first, a syntax this database does not know)."""
        if self.rows(table) == 0:
            return 0
        live = self.live_table(table)
        if live is None:
            return None
        alias = self.connection.alias
        try:
            with transaction.atomic(using=alias), self.connection.cursor() as cursor:
                if self.connection.vendor == "postgresql":
                    cursor.execute("SET LOCAL transaction_read_only = on")
                cursor.execute(f"SELECT COUNT(*) FROM {self._q(live)} WHERE {condition}")  # noqa: S608
                found = cursor.fetchone()[0]
                transaction.set_rollback(True, using=alias)
        except DatabaseError:
            return None
        return int(found)

    # --- plumbing ---------------------------------------------------------------------------
    def _count(self, table: str, where: str) -> int | None:
        rows = self.rows(table)
        if rows == 0:
            return 0
        live = self.live_table(table)
        if live is None:
            return None
        found = self._scalar(f"SELECT COUNT(*) FROM {self._q(live)} WHERE {where}")  # noqa: S608
        return None if found is None else int(found)

    def _readable(self, table: str) -> bool:
        return self._scalar(f"SELECT COUNT(*) FROM {self._q(table)}") is not None  # noqa: S608

    def _scalar(self, sql: str):
        try:
            with (
                transaction.atomic(using=self.connection.alias),
                self.connection.cursor() as cursor,
            ):
                cursor.execute(sql)
                row = cursor.fetchone()
        except DatabaseError:
            return None
        return row[0] if row else None

    def _orm(self, query):
        try:
            with transaction.atomic(using=self.connection.alias):
                return int(query())
        except (DatabaseError, ValueError, TypeError):
            return None

    def _q(self, name: str) -> str:
        return self.connection.ops.quote_name(name)


def _cache_tables() -> set[str]:
    from django.conf import settings

    return {
        cache["LOCATION"]
        for cache in settings.CACHES.values()
        if cache.get("BACKEND", "").endswith("DatabaseCache")
    }
