"""Read-only questions about the live data that the migration guard asks (counts only)."""

from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

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
    """Counts rows in the live database, caching what it has asked. Every query is a SELECT,
    run in a savepoint so a failing one (a column the database lacks) cannot break a
    transaction; such a question answers None (unknown)."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self._tables: set[str] | None = None
        self._rows: dict[str, int] = {}
        self._has_data: bool | None = None

    def tables(self) -> set[str]:
        if self._tables is None:
            with self.connection.cursor() as cursor:
                self._tables = set(self.connection.introspection.table_names(cursor))
        return self._tables

    def rows(self, table: str) -> int:
        if table not in self.tables():
            return 0
        if table not in self._rows:
            found = self._scalar(f"SELECT COUNT(*) FROM {self._q(table)}")  # noqa: S608
            self._rows[table] = int(found or 0)
        return self._rows[table]

    def has_data(self) -> bool:
        """Whether any table but Django's own bookkeeping (and the cache) holds a row."""
        if self._has_data is None:
            skipped = BOOKKEEPING_TABLES | _cache_tables()
            self._has_data = any(
                self._scalar(f"SELECT 1 FROM {self._q(table)} LIMIT 1")  # noqa: S608
                for table in sorted(self.tables() - skipped)
            )
        return self._has_data

    def non_null(self, table: str, column: str) -> int | None:
        return self._count(table, f"{self._q(column)} IS NOT NULL")

    def nulls(self, table: str, column: str) -> int | None:
        return self._count(table, f"{self._q(column)} IS NULL")

    def longer_than(self, table: str, column: str, length: int) -> int | None:
        return self._count(table, f"LENGTH({self._q(column)}) > {int(length)}")

    def duplicates(self, table: str, columns: list[str]) -> int | None:
        """Rows that share their values of `columns` with another row (NULLs never clash)."""
        if table not in self.tables():
            return 0
        names = ", ".join(self._q(c) for c in columns)
        present = " AND ".join(f"{self._q(c)} IS NOT NULL" for c in columns)
        found = self._scalar(
            f"SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM {self._q(table)} "  # noqa: S608
            f"WHERE {present} GROUP BY {names} HAVING COUNT(*) > 1) AS clashes"
        )
        return None if found is None else int(found)  # PostgreSQL sums into a Decimal

    def violating(self, model, condition: Q) -> int | None:
        """Rows of a (historical) model that do not satisfy `condition`."""
        if model._meta.db_table not in self.tables():
            return 0
        try:
            with transaction.atomic(using=self.connection.alias):
                return model._base_manager.using(self.connection.alias).exclude(condition).count()
        except (DatabaseError, ValueError, TypeError):
            return None

    def _count(self, table: str, where: str) -> int | None:
        if table not in self.tables():
            return 0
        found = self._scalar(f"SELECT COUNT(*) FROM {self._q(table)} WHERE {where}")  # noqa: S608
        return None if found is None else int(found)

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

    def _q(self, name: str) -> str:
        return self.connection.ops.quote_name(name)


def _cache_tables() -> set[str]:
    from django.conf import settings

    return {
        cache["LOCATION"]
        for cache in settings.CACHES.values()
        if cache.get("BACKEND", "").endswith("DatabaseCache")
    }
