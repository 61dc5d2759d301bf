"""Backups, exports and the schema-change ledger in Django admin (§6.2, §7). Every action is one
service call, reported with message_user and recorded in admin's history (LogEntry) with the
user who did it.

One module per admin page: `backup` (the catalogue and its actions), `restore` (the restore
confirmation page), `export` (the export record, and the CSV export action this app adds to the
signup list), `schema_change` (the read-only ledger of guarded migrations).
"""

from backups_app.admin import backup, export, schema_change  # noqa: F401 (registers the pages)
