"""The SQL one of Django's own operations would run, collected without running it."""

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.state import ProjectState


def emitted_sql(
    operation,
    *,
    app_label: str,
    connection: BaseDatabaseWrapper,
    before: ProjectState,
    after: ProjectState,
    backwards: bool,
) -> list[str] | None:
    """The statements `operation` would run taking the database from `before` to `after`,
    collected as `sqlmigrate` collects them (the schema is read, nothing is changed). None when
    they cannot be collected; the caller then assumes the worst.

    Only for Django's own operations: custom code may write through a cursor of its own even
    while the schema editor collects.
    """
    try:
        with connection.schema_editor(collect_sql=True, atomic=False) as editor:
            if backwards:
                operation.database_backwards(app_label, editor, before, after)
            else:
                operation.database_forwards(app_label, editor, before, after)
    except Exception:  # whatever stops the collection, the answer is "unknown"
        return None
    return list(editor.collected_sql)


def emitted_in(operation, ctx) -> list[str] | None:
    """emitted_sql() for `operation` in a classification context (classify's and deploy's share
    its fields: app_label, probe.connection, before, after, backwards)."""
    return emitted_sql(
        operation,
        app_label=ctx.app_label,
        connection=ctx.probe.connection,
        before=ctx.before,
        after=ctx.after,
        backwards=ctx.backwards,
    )
