"""Reading RunSQL with sqlparse: which statements destroy, change or only add data."""

from dataclasses import dataclass, field

import sqlparse
from sqlparse import sql as parsed
from sqlparse import tokens

from backups_app.migration_safety.levels import Level


@dataclass(frozen=True)
class Statement:
    """One SQL statement as the guard understands it."""

    text: str
    #: What it does: drop_table, drop_column, drop_other, truncate, delete, update, alter_type,
    #: rename, insert, create, alter_other, read, other.
    effect: str
    tables: list[str] = field(default_factory=list)
    has_where: bool = False


def statements_of(sql) -> list[Statement]:
    """Every statement of a RunSQL `sql` argument (a string, or a list of strings and
    (sql, params) pairs), classified by effect."""
    if sql is None:
        return []
    texts = (
        [sql] if isinstance(sql, str) else [s[0] if isinstance(s, list | tuple) else s for s in sql]
    )
    found = []
    for text in texts:
        for statement in sqlparse.parse(text):
            words = [t for t in statement.flatten() if not t.is_whitespace]
            if not words or all(t.ttype in tokens.Comment for t in words):
                continue
            found.append(_read(statement))
    return found


def _read(statement: parsed.Statement) -> Statement:
    text = " ".join(str(statement).split())
    keywords = [
        t.normalized for t in statement.flatten() if t.ttype in tokens.Keyword or t.is_keyword
    ]
    kind = statement.get_type()
    has_where = any(isinstance(t, parsed.Where) for t in statement.tokens)
    if kind == "DROP":
        target = keywords[1] if len(keywords) > 1 else ""
        if target == "TABLE":
            return Statement(text, "drop_table", _names_after(statement, "TABLE"))
        return Statement(text, "drop_other", [], False)
    if kind == "TRUNCATE":
        return Statement(text, "truncate", _names_after(statement, "TRUNCATE", "TABLE"))
    if kind == "DELETE":
        return Statement(text, "delete", _names_after(statement, "FROM"), has_where)
    if kind == "UPDATE":
        return Statement(text, "update", _names_after(statement, "UPDATE"), has_where)
    if kind == "INSERT":
        return Statement(text, "insert", _names_after(statement, "INTO"))
    if kind == "CREATE":
        return Statement(text, "create", _names_after(statement, "TABLE"))
    if kind == "ALTER":
        tables = _names_after(statement, "TABLE")
        rest = keywords[2:]
        if "DROP" in rest and "CONSTRAINT" not in rest and "DEFAULT" not in rest:
            return Statement(text, "drop_column", tables)
        if "TYPE" in rest:
            return Statement(text, "alter_type", tables)
        if "RENAME" in rest:
            return Statement(text, "rename", tables)
        return Statement(text, "alter_other", tables)
    if kind == "SELECT":
        return Statement(text, "read")
    return Statement(text, "other")


def _names_after(statement: parsed.Statement, *keywords: str) -> list[str]:
    """The table names that follow the last of `keywords` (skipping IF EXISTS, ONLY, …)."""
    seen = False
    for token in statement.tokens:
        if token.is_whitespace:
            continue
        if token.is_keyword and token.normalized in keywords:
            seen = True
            continue
        if not seen:
            continue
        if token.is_keyword:  # IF EXISTS, ONLY, IF NOT EXISTS
            continue
        if isinstance(token, parsed.IdentifierList):
            return [_bare(i) for i in token.get_identifiers() if _bare(i)]
        if isinstance(token, parsed.Identifier | parsed.Function):
            return [_bare(token)]
        if token.ttype in tokens.Name or token.ttype in tokens.Literal.String.Symbol:
            return [_bare(token)]
        return []
    return []


def _bare(token) -> str:
    if isinstance(token, parsed.Identifier | parsed.Function):
        name = token.get_real_name() or ""
    else:
        name = str(token)
    return name.strip().strip('"`[]').split("(")[0].strip()


def level_of(statement: Statement, rows: int | None, database_has_data: bool) -> tuple[Level, str]:
    """The risk level of one statement, given the rows of the table it names (None: unknown)."""
    at_risk = database_has_data if rows is None else rows > 0
    what = f"{rows} row(s)" if rows is not None else "rows"
    if statement.effect == "read":
        return Level.NONE, "only reads"
    if not at_risk:
        return Level.LOW, "touches no existing data"
    match statement.effect:
        case "drop_table":
            return Level.HIGH, f"DROP TABLE destroys {what}"
        case "drop_column":
            return Level.HIGH, f"DROP COLUMN destroys a column of {what}"
        case "truncate":
            return Level.HIGH, f"TRUNCATE deletes {what}"
        case "delete" if not statement.has_where:
            return Level.HIGH, f"DELETE without WHERE deletes all {what}"
        case "update" if not statement.has_where:
            return Level.HIGH, f"UPDATE without WHERE rewrites all {what}"
        case "drop_other":
            return Level.HIGH, "DROP of a database object other than a table"
        case "delete" | "update":
            return Level.MEDIUM, f"{statement.effect.upper()} with WHERE changes some of {what}"
        case "alter_type":
            return Level.MEDIUM, f"ALTER … TYPE rewrites {what}"
        case "rename":
            return Level.MEDIUM, "renames a table or column that holds data"
        case "insert" | "create":
            return Level.MEDIUM, "only adds data or objects"
        case "alter_other":
            return Level.MEDIUM, "alters a table that holds data"
    return Level.MEDIUM, "a statement the guard cannot read fully"
