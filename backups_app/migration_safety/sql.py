"""Reading RunSQL with sqlparse: which statements destroy, change or only add data."""

import dataclasses
import itertools
from dataclasses import dataclass, field

import sqlparse
from sqlparse import sql as parsed
from sqlparse import tokens
from sqlparse.exceptions import SQLParseError

from backups_app.migration_safety.levels import Level


@dataclass(frozen=True)
class Statement:
    """One SQL statement as the guard understands it."""

    text: str
    #: What it does: drop_table, drop_column, drop_index, drop_other, truncate, delete, update,
    #: alter_type, rewrite, rename, add_not_null (ADD COLUMN … NOT NULL without a DEFAULT),
    #: insert, upsert, create, alter_other, read, harmless, other (unreadable, or running code:
    #: treated as destructive).
    effect: str
    tables: list[str] = field(default_factory=list)
    has_where: bool = False
    renamed_to: str = ""  # ALTER TABLE t RENAME TO renamed_to
    renamed_column: tuple = ()  # ALTER TABLE t RENAME [COLUMN] old TO new
    #: A DELETE's or UPDATE's WHERE condition when the guard can count the rows it selects on
    #: its one table: no placeholder, no other table (FROM, USING, WITH), no function that may
    #: change data. "" otherwise.
    where: str = ""
    #: The columns an UPDATE sets, as written, when each is a plain name; () otherwise.
    set_columns: tuple = ()


def statements_of(sql) -> list[Statement]:
    """Every statement of a RunSQL `sql` argument (a string, or a list of strings and
    (sql, params) pairs), classified by effect."""
    if sql is None:
        return []
    # (text, whether it runs with params: its placeholders are filled only then)
    texts = (
        [(sql, False)]
        if isinstance(sql, str)
        else [(s[0], True) if isinstance(s, list | tuple) else (s, False) for s in sql]
    )
    found = []
    for text, with_params in texts:
        try:
            statements = sqlparse.parse(text)
        except SQLParseError:  # e.g. more tokens than sqlparse will read
            found.append(Statement(" ".join(str(text).split())[:200], "other"))
            continue
        for statement in statements:
            words = [t for t in statement.flatten() if not t.is_whitespace]
            if not words or all(t.ttype in tokens.Comment for t in words):
                continue
            read = _read(statement)
            if with_params and read.where:
                read = dataclasses.replace(read, where="")
            found.append(read)
    return found


# Statements that change no rows (and nothing else the guard reads as data).
HARMLESS = {"COMMENT", "GRANT", "REVOKE", "SET", "RESET", "ANALYZE", "VACUUM", "REINDEX", "LOCK"}
# Functions a migration's SELECT may call without changing data.
READ_FUNCTIONS = {
    "setval", "nextval", "currval", "pg_get_serial_sequence", "count", "max", "min", "coalesce",
    "now", "lower", "upper", "length",
}  # fmt: skip
# CREATE … of these runs code later, on other statements' rows.
RUNS_CODE = {"TRIGGER", "FUNCTION", "PROCEDURE", "RULE"}
# A WHERE that every row passes is no WHERE at all.
ALWAYS_TRUE = {"1=1", "true", "1", "(1=1)", "(true)", "'1'='1'"}
# After ALTER TABLE … ADD, these add a constraint, not a column.
ADD_CONSTRAINT = {"CONSTRAINT", "CHECK", "UNIQUE", "PRIMARY KEY", "PRIMARY", "FOREIGN", "EXCLUDE"}
# In an added column's definition, these give every existing row a value (lower case).
FILLS_ROWS = {"default", "generated", "identity", "serial", "bigserial", "smallserial"}
# After ALTER TABLE … DROP, these keep every value.
DROP_KEEPS_DATA = {"CONSTRAINT", "DEFAULT", "NOT NULL", "NOT", "IDENTITY", "EXPRESSION"}


def _read(statement: parsed.Statement) -> Statement:
    text = " ".join(str(statement).split())
    words = [
        t for t in statement.flatten() if not t.is_whitespace and t.ttype not in tokens.Comment
    ]
    keywords = [t.normalized for t in words if t.is_keyword]
    commands = {t.normalized for t in words if t.ttype in (tokens.Keyword.DML, tokens.Keyword.DDL)}
    kind = statement.get_type()
    has_where = any(
        isinstance(t, parsed.Where) and _condition(t) not in ALWAYS_TRUE for t in statement.tokens
    )
    if kind == "DROP":
        target = keywords[1] if len(keywords) > 1 else ""
        if target == "TABLE":
            return Statement(text, "drop_table", _names_after(statement, "TABLE"))
        if target == "INDEX":
            return Statement(text, "drop_index")
        return Statement(text, "drop_other")
    if kind == "TRUNCATE":
        if "CASCADE" in keywords:  # empties every table that refers to these too
            return Statement(text, "truncate")
        return Statement(text, "truncate", _names_after(statement, "TRUNCATE", "TABLE"))
    if kind == "DELETE":
        tables = _names_after(statement, "FROM")
        where = _countable_where(statement, tables, keywords, other_tables="USING")
        return Statement(text, "delete", tables, has_where, where=where)
    if kind == "UPDATE":
        tables = _names_after(statement, "UPDATE")
        where = _countable_where(statement, tables, keywords, other_tables="FROM")
        return Statement(
            text, "update", tables, has_where, where=where, set_columns=_set_columns(statement)
        )
    if kind == "INSERT":
        tables = _names_after(statement, "INTO")
        if "REPLACE" in keywords or ("CONFLICT" in keywords and "UPDATE" in commands):
            return Statement(text, "upsert", tables)
        values_from = next(
            (i for i, w in enumerate(words) if w.normalized in ("VALUES", "SELECT")), len(words)
        )
        if commands - {"INSERT", "SELECT"} or _calls_unknown_function(words[values_from:]):
            return Statement(text, "other")
        return Statement(text, "insert", tables)
    if kind.startswith("CREATE"):
        if RUNS_CODE & set(keywords) or commands - {"CREATE", "CREATE OR REPLACE", "SELECT"}:
            return Statement(text, "other")
        return Statement(text, "create", _names_after(statement, "TABLE"))
    if kind == "ALTER":
        return _read_alter(statement, text, words)
    if kind == "SELECT":
        # A data-changing CTE, or a function that may do anything, is not a read.
        if commands - {"SELECT"} or _calls_unknown_function(words):
            return Statement(text, "other")
        return Statement(text, "read")
    if keywords and keywords[0] in HARMLESS and not commands:
        return Statement(text, "harmless")
    return Statement(text, "other")  # DO blocks, EXECUTE, MERGE, REPLACE, CALL, …


def _read_alter(statement: parsed.Statement, text: str, words: list) -> Statement:
    tables = _names_after(statement, "TABLE")
    values = [t.normalized for t in words]
    effects = []
    renamed_to, renamed_column = "", ()
    for index, value in enumerate(values[2:], start=2):  # each action of ALTER TABLE t …, …
        following = values[index + 1] if index + 1 < len(values) else ""
        if value == "DROP" and following not in DROP_KEEPS_DATA:
            effects.append("drop_column")
        elif value == "ADD" and following not in ADD_CONSTRAINT and _adds_required(values, index):
            effects.append("add_not_null")
        elif value == "TYPE":
            # USING computes every new value: it can rewrite the column to anything.
            effects.append("rewrite" if "USING" in values[index:] else "alter_type")
        elif value == "RENAME":
            effects.append("rename")
            names = [_bare(w) for w in words[index + 1 :] if not w.is_keyword][:2]
            if following == "TO" and names:
                renamed_to = names[0]
            elif len(names) == 2:  # RENAME [COLUMN] old TO new
                renamed_column = (names[0], names[1])
    for effect in ("drop_column", "add_not_null", "rewrite", "alter_type", "rename"):
        if effect in effects:
            return Statement(
                text, effect, tables, renamed_to=renamed_to, renamed_column=renamed_column
            )
    return Statement(text, "alter_other", tables)


def _adds_required(values: list[str], start: int) -> bool:
    """Whether the ADD COLUMN action at `start` (up to the next comma outside parentheses) is
    NOT NULL with nothing to fill the existing rows: ADD COLUMN then fails on a table with rows."""
    action, depth = [], 0
    for value in values[start + 1 :]:
        depth += (value == "(") - (value == ")")
        if value == "," and depth == 0:
            break
        action.append(value)
    not_null = "NOT NULL" in action or any(
        pair == ("NOT", "NULL") for pair in itertools.pairwise(action)
    )
    return not_null and not FILLS_ROWS & {value.lower() for value in action}


def _countable_where(
    statement: parsed.Statement, tables: list[str], keywords: list[str], other_tables: str
) -> str:
    """The WHERE condition of a DELETE or UPDATE on one table, as written, when counting the
    rows it selects reads only that table and changes nothing; "" otherwise."""
    if len(tables) != 1 or other_tables in keywords or "WITH" in keywords:
        return ""
    where = next((t for t in statement.tokens if isinstance(t, parsed.Where)), None)
    if where is None or _condition(where) in ALWAYS_TRUE:
        return ""
    words = [t for t in where.flatten() if not t.is_whitespace and t.ttype not in tokens.Comment]
    if any(
        t.ttype in (tokens.Keyword.DML, tokens.Keyword.DDL) and t.normalized != "SELECT"
        for t in words
    ) or _calls_unknown_function(words):
        return ""
    return "".join(str(t) for t in where.tokens[1:]).strip().rstrip(";").strip()


def _set_columns(statement: parsed.Statement) -> tuple:
    """The columns `UPDATE … SET a = …, b = …` assigns, as written; () when any is not a plain
    name (SET (a, b) = …) or the statement cannot be read that far."""
    seen = False
    for token in statement.tokens:
        if token.is_keyword and token.normalized == "SET":
            seen = True
        elif seen and not token.is_whitespace:
            if isinstance(token, parsed.IdentifierList):
                assignments = list(token.get_identifiers())
            else:
                assignments = [token]
            lefts = [a.left for a in assignments if isinstance(a, parsed.Comparison)]
            if len(lefts) != len(assignments) or not all(
                isinstance(left, parsed.Identifier) for left in lefts
            ):
                return ()
            return tuple(str(left).strip() for left in lefts)
    return ()


def _condition(where: parsed.Where) -> str:
    return "".join(str(where).split()[1:]).rstrip(";").lower()


def _calls_unknown_function(words: list) -> bool:
    return any(
        token.ttype in tokens.Name
        and token.ttype not in tokens.Name.Builtin
        and following.value == "("
        and token.value.lower() not in READ_FUNCTIONS
        for token, following in itertools.pairwise(words)
    )


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


def level_of(
    statement: Statement,
    rows: int | None,
    database_has_data: bool,
    matched: int | None = None,
    overwritten: int | None = None,
) -> tuple[Level, str]:
    """The risk level of one statement, given the rows of the table it names (None: unknown)
    and, for a DELETE or UPDATE with a WHERE, the rows that WHERE selects and, of those, the
    rows where the UPDATE overwrites a value that is not NULL (None: uncounted)."""
    at_risk = database_has_data if rows is None else rows > 0
    what = f"{rows} row(s)" if rows is not None else "rows (how many could not be counted)"
    if statement.effect == "read":
        return Level.NONE, "only reads"
    if statement.effect in ("harmless", "drop_index"):
        return Level.LOW, "changes no rows"
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
            return Level.HIGH, f"DELETE without a WHERE that limits it deletes all {what}"
        case "update" if not statement.has_where:
            return Level.HIGH, f"UPDATE without a WHERE that limits it rewrites all {what}"
        case "add_not_null":
            return (
                Level.HIGH,
                f"ADD COLUMN … NOT NULL without a DEFAULT: {what} would have no value for it, so "
                "the migration would fail",
            )
        case "upsert":
            return Level.HIGH, f"INSERT that replaces or updates conflicting rows of {what}"
        case "rewrite":
            return Level.HIGH, f"ALTER … TYPE … USING computes new values for {what}"
        case "drop_other":
            return Level.HIGH, "DROP of a database object other than a table"
        case "delete" | "update" if matched == 0:
            return Level.LOW, (
                f"{statement.effect.upper()} with WHERE matches none of {what} (counted)"
            )
        case "update" if overwritten:
            return Level.HIGH, (
                f"UPDATE overwrites values in {overwritten} of {what} (counted with its WHERE)"
            )
        case "update" if overwritten == 0 and matched:
            return Level.MEDIUM, (
                f"UPDATE with WHERE only fills NULLs, in {matched} of {what} (counted)"
            )
        case "delete" if matched:
            return Level.HIGH, f"DELETE with WHERE deletes {matched} of {what} (counted)"
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
    return Level.HIGH, "a statement the guard cannot read fully, so it is treated as destructive"
