"""Reading RunSQL: each statement's effect, the tables it names, and its level."""

import pytest

from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.sql import level_of, statements_of


@pytest.mark.parametrize(
    ("text", "effect", "tables", "has_where"),
    [
        (
            'DROP TABLE IF EXISTS "waitlist_responses", other;',
            "drop_table",
            ["waitlist_responses", "other"],
            False,
        ),
        ("truncate table waitlist_responses cascade", "truncate", [], False),  # every table
        ("TRUNCATE waitlist_responses", "truncate", ["waitlist_responses"], False),
        ("DELETE FROM waitlist_responses", "delete", ["waitlist_responses"], False),
        ("DELETE FROM waitlist_responses WHERE id < 10", "delete", ["waitlist_responses"], True),
        ("UPDATE waitlist_responses SET city = ''", "update", ["waitlist_responses"], False),
        ("ALTER TABLE t ALTER COLUMN c TYPE varchar(10)", "alter_type", ["t"], False),
        ("ALTER TABLE t DROP COLUMN c", "drop_column", ["t"], False),
        ("ALTER TABLE t DROP CONSTRAINT c", "alter_other", ["t"], False),
        ("ALTER TABLE t RENAME COLUMN a TO b", "rename", ["t"], False),
        ("INSERT INTO t (a) VALUES (1)", "insert", ["t"], False),
        ("CREATE TABLE t (id int)", "create", ["t"], False),
        ("SELECT 1", "read", [], False),
        ("DROP INDEX t_idx", "drop_index", [], False),
        ("DROP VIEW v", "drop_other", [], False),
        ("drop table WAITLIST_RESPONSES", "drop_table", ["WAITLIST_RESPONSES"], False),
        ('DROP TABLE "public"."waitlist_responses"', "drop_table", ["waitlist_responses"], False),
        ("ALTER TABLE t DROP CONSTRAINT c, DROP COLUMN email", "drop_column", ["t"], False),
        ("ALTER TABLE t DROP email", "drop_column", ["t"], False),
        ("ALTER TABLE t ALTER COLUMN c DROP NOT NULL", "alter_other", ["t"], False),
        ("WITH g AS (DELETE FROM t RETURNING *) SELECT 1", "other", [], False),
        ("SELECT wipe_signups()", "other", [], False),
        ("SELECT setval('t_id_seq', 10)", "read", [], False),
        ("DO $$ BEGIN DELETE FROM t; END $$", "other", [], False),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "other", [], False),
        ("COMMENT ON TABLE t IS 'signups'", "harmless", [], False),
        ("DELETE FROM t WHERE 1 = 1", "delete", ["t"], False),
        ("INSERT OR REPLACE INTO t VALUES (1)", "upsert", ["t"], False),
        ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2", "upsert", ["t"], False),
        ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", "insert", ["t"], False),
        ("INSERT INTO t (a) VALUES (now())", "insert", ["t"], False),
        ("INSERT INTO t (a) SELECT wipe()", "other", [], False),
        ("CREATE TRIGGER tr AFTER INSERT ON log BEGIN DELETE FROM t; END", "other", [], False),
        ("ALTER TABLE t ALTER COLUMN a TYPE integer USING NULL", "rewrite", ["t"], False),
    ],
)
def test_each_statement_is_read_for_its_effect(text, effect, tables, has_where):
    [statement] = statements_of(text)
    assert (statement.effect, statement.tables, statement.has_where) == (effect, tables, has_where)


def test_lists_of_statements_and_params_and_comments_are_read():
    found = statements_of(
        ["-- a comment only", ("DELETE FROM t WHERE id = %s", [1]), "DROP TABLE a; DROP TABLE b"]
    )
    assert [s.effect for s in found] == ["delete", "drop_table", "drop_table"]
    assert statements_of(None) == []


@pytest.mark.parametrize(
    ("text", "rows", "level"),
    [
        ("DROP TABLE t", 5, Level.HIGH),
        ("DROP TABLE t", 0, Level.LOW),
        ("TRUNCATE t", 5, Level.HIGH),
        ("DELETE FROM t", 5, Level.HIGH),
        ("DELETE FROM t WHERE a = 1", 5, Level.MEDIUM),
        ("UPDATE t SET a = 1", 5, Level.HIGH),
        ("UPDATE t SET a = 1 WHERE b = 2", 5, Level.MEDIUM),
        ("ALTER TABLE t ALTER COLUMN a TYPE bigint", 5, Level.MEDIUM),
        ("ALTER TABLE t DROP COLUMN a", 5, Level.HIGH),
        ("INSERT INTO t (a) VALUES (1)", 5, Level.MEDIUM),
        ("SELECT 1", None, Level.NONE),
        ("DROP SCHEMA public CASCADE", None, Level.HIGH),
        ("VACUUM", None, Level.LOW),
        ("DO $$ BEGIN DELETE FROM t; END $$", None, Level.HIGH),
        ("SELECT wipe_signups()", None, Level.HIGH),
        ("ALTER TABLE t ALTER COLUMN c DROP NOT NULL", 5, Level.MEDIUM),
    ],
)
def test_levels_follow_the_table_of_section_7(text, rows, level):
    [statement] = statements_of(text)
    assert level_of(statement, rows, database_has_data=True)[0] == level


def test_a_renamed_table_is_followed():
    [statement] = statements_of("ALTER TABLE public.waitlist_responses RENAME TO old_signups")
    assert (statement.effect, statement.tables, statement.renamed_to) == (
        "rename",
        ["waitlist_responses"],
        "old_signups",
    )


def test_nothing_is_at_risk_in_a_database_without_data():
    [statement] = statements_of("DROP SCHEMA public CASCADE")
    assert level_of(statement, None, database_has_data=False)[0] == Level.LOW


def test_column_renames_are_followed_with_or_without_the_word_column():
    for text in ("ALTER TABLE t RENAME code TO nick", "ALTER TABLE t RENAME COLUMN code TO nick"):
        [statement] = statements_of(text)
        assert (statement.renamed_to, statement.renamed_column) == ("", ("code", "nick"))


def test_sql_too_long_to_parse_is_treated_as_unreadable_not_a_crash():
    huge = "INSERT INTO t VALUES " + ", ".join(["(1)"] * 6000)  # noqa: S608
    [statement] = statements_of(huge)
    assert statement.effect == "other"
    assert level_of(statement, None, database_has_data=True)[0] == Level.HIGH


@pytest.mark.parametrize(
    ("text", "effect"),
    [
        ("ALTER TABLE t ADD COLUMN must varchar(10) NOT NULL", "add_not_null"),
        ("ALTER TABLE t ADD must numeric(10, 2) NOT NULL", "add_not_null"),
        ("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int NOT NULL", "add_not_null"),
        ("ALTER TABLE t ADD COLUMN must varchar(10) NOT NULL DEFAULT ''", "alter_other"),
        ("ALTER TABLE t ADD COLUMN n int GENERATED ALWAYS AS IDENTITY NOT NULL", "alter_other"),
        ("ALTER TABLE t ADD COLUMN n bigserial NOT NULL", "alter_other"),
        ("ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 0, ADD COLUMN b int", "alter_other"),
        ("ALTER TABLE t ADD COLUMN maybe int", "alter_other"),
        ("ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL)", "alter_other"),
    ],
)
def test_a_not_null_column_added_without_a_default_is_told_apart(text, effect):
    [statement] = statements_of(text)
    assert statement.effect == effect


@pytest.mark.parametrize(
    ("sql", "where"),
    [
        ("DELETE FROM t WHERE score IS NULL", "score IS NULL"),
        ("delete from t where score is null;", "score is null"),
        ("UPDATE t SET a = NULL WHERE a LIKE 'Ada%%' RETURNING id", "a LIKE 'Ada%%'"),
        (["UPDATE t SET a = 1 WHERE b = 2"], "b = 2"),
        ([("DELETE FROM t WHERE id = %s", [1])], ""),  # a placeholder the guard cannot fill
        ("DELETE FROM t", ""),
        ("DELETE FROM t USING u WHERE t.id = u.id", ""),  # another table in the WHERE
        ("UPDATE t SET a = u.a FROM u WHERE t.id = u.id", ""),
        ("DELETE FROM t WHERE id IN (SELECT wipe())", ""),  # a function that may do anything
        ("WITH d AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM d)", ""),
    ],
)
def test_a_where_is_kept_only_when_the_guard_can_count_its_rows(sql, where):
    [statement] = statements_of(sql)
    assert statement.where == where


@pytest.mark.parametrize(
    ("sql", "columns"),
    [
        ("UPDATE t SET a = 1 WHERE b = 2", ("a",)),
        ('UPDATE t SET a = NULL, "B" = 2 WHERE c', ("a", '"B"')),
        ("UPDATE t SET (a, b) = (1, 2) WHERE c", ()),
    ],
)
def test_the_columns_an_update_sets_are_read(sql, columns):
    [statement] = statements_of(sql)
    assert statement.set_columns == columns


@pytest.mark.parametrize(
    ("text", "matched", "overwritten", "level", "said"),
    [
        ("DELETE FROM t WHERE a = 1", 2, None, Level.HIGH, "deletes 2 of 5 row(s)"),
        ("UPDATE t SET a = 1 WHERE b = 2", 5, 3, Level.HIGH, "values in 3 of 5 row(s)"),
        ("UPDATE t SET a = 1 WHERE b = 2", 5, 0, Level.MEDIUM, "only fills NULLs"),
        ("UPDATE t SET a = 1 WHERE b = 2", 5, None, Level.MEDIUM, "changes some of 5 row(s)"),
        ("DELETE FROM t WHERE a = 1", 0, None, Level.LOW, "matches none of 5 row(s)"),
        ("DELETE FROM t WHERE a = 1", None, None, Level.MEDIUM, "changes some of 5 row(s)"),
    ],
)
def test_a_where_with_counted_rows_says_how_many_it_changes(
    text, matched, overwritten, level, said
):
    [statement] = statements_of(text)
    found, why = level_of(
        statement, 5, database_has_data=True, matched=matched, overwritten=overwritten
    )
    assert found == level
    assert said in why
