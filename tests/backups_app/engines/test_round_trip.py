"""The engine contract, below the services: what `dump` writes, `scratch` and `restore` read back
exactly, on the database the suite runs on (SQLite and PostgreSQL in `make test`)."""

import contextlib
import io

import pytest
from django.db import IntegrityError, connections

from backups_app.engines import ENGINES, get_engine
from backups_app.exceptions import EngineNotSupported, RestoreError
from backups_app.services.restore import restore_rules
from tests.backups_app.conftest import signup_rows
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

AWKWARD = [
    # What a dump must carry through unchanged: quotes, backslashes, tabs, new lines, emoji,
    # text that looks like SQL or a COPY terminator, and empty optional fields.
    {"full_name": 'O\'Brien \\ "Quoted"', "city": "Tab\there", "message": "line one\nline two"},
    {"full_name": "Zoë Ångström 🎟️", "city": "", "message": "\\.\n'); DROP TABLE x; --"},
    {"full_name": "Plain Fan", "phone": "", "country": "", "message": ""},
]


@pytest.fixture
def awkward_signups(transactional_db) -> list[tuple]:
    for fields in AWKWARD:
        SignupFactory(**fields)
    return signup_rows()


def dumped() -> tuple[bytes, dict[str, int]]:
    out = io.BytesIO()
    snapshot = get_engine().dump(out=out, queries={})
    return out.getvalue(), snapshot.row_counts


def test_the_dump_counts_every_table_as_the_live_database_does(awkward_signups):
    sql, counts = dumped()

    assert counts == get_engine().row_counts()
    assert counts[Signup._meta.db_table] == len(AWKWARD)
    assert get_engine().is_complete(sql[-4096:])


def test_a_scratch_database_holds_exactly_what_was_dumped(awkward_signups):
    sql, counts = dumped()
    columns = ["id", "full_name", "email", "phone", "city", "country", "message", "consent"]

    with get_engine().scratch(sql=io.BytesIO(sql)) as scratch:
        scratch_counts = scratch.row_counts()
        rows = [
            tuple(row)
            for batch in scratch.iter_rows("waitlist_responses", columns)
            for row in batch
        ]

    assert scratch_counts == counts
    live = [tuple(row[: len(columns)]) for row in awkward_signups]
    assert sorted(rows) == sorted(live)


def test_a_restore_puts_back_every_value_that_was_dumped(awkward_signups):
    sql, counts = dumped()
    Signup.objects.all().delete()
    engine = get_engine()
    connections[engine.alias].close()

    engine.restore(sql=io.BytesIO(sql), expected_counts=counts, rules=restore_rules())

    assert signup_rows() == awkward_signups


def test_a_restore_whose_counts_do_not_match_changes_nothing(awkward_signups):
    sql, counts = dumped()
    Signup.objects.filter(pk=awkward_signups[0][0]).delete()
    before = signup_rows()
    wrong = {**counts, Signup._meta.db_table: counts[Signup._meta.db_table] + 1}
    engine = get_engine()
    connections[engine.alias].close()

    with pytest.raises(RestoreError):
        engine.restore(sql=io.BytesIO(sql), expected_counts=wrong, rules=restore_rules())

    assert signup_rows() == before


def test_a_database_engine_without_an_engine_class_is_named_not_a_key_error():
    # Django's own placeholder backend: a database engine the backups do not support.
    connections.settings["other"] = {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.dummy",
    }
    try:
        with pytest.raises(EngineNotSupported) as refused:
            get_engine("other")
    finally:
        with contextlib.suppress(AttributeError):
            del connections["other"]
        del connections.settings["other"]

    assert "django.db.backends.dummy" in str(refused.value)
    assert all(name in str(refused.value) for name in ENGINES)


EXTRA_SCHEMA = [
    "CREATE TABLE vip_audit (signup_id integer)",
    "CREATE INDEX vip_audit_signup ON vip_audit (signup_id)",
    "CREATE UNIQUE INDEX vip_audit_once ON vip_audit (signup_id) WHERE signup_id > 0",
    "CREATE INDEX waitlist_responses_city_lower ON waitlist_responses (lower(city))",
    "CREATE TRIGGER vip_audit_insert AFTER INSERT ON waitlist_responses "
    "BEGIN INSERT INTO vip_audit VALUES (new.id); END",
    "CREATE VIEW vip_cities AS SELECT DISTINCT city FROM waitlist_responses",
]


@pytest.fixture
def extra_schema(awkward_signups):
    """An index of each kind (a unique partial one too), a trigger that writes a row for each
    new signup, and a view, on top of Django's schema (dropped again after the test)."""
    with connections["default"].cursor() as cursor:
        for statement in EXTRA_SCHEMA:
            cursor.execute(statement)
    yield
    with connections["default"].cursor() as cursor:
        cursor.execute("DROP VIEW IF EXISTS vip_cities")
        cursor.execute("DROP TRIGGER IF EXISTS vip_audit_insert")
        cursor.execute("DROP INDEX IF EXISTS waitlist_responses_city_lower")
        cursor.execute("DROP TABLE IF EXISTS vip_audit")


def sqlite_schema() -> list[tuple]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        return cursor.fetchall()


@pytest.mark.sqlite_only
def test_a_sqlite_restore_puts_back_every_index_trigger_and_view_and_fires_no_trigger(
    extra_schema,
):
    SignupFactory(full_name="After The Trigger")  # the trigger's one audit row
    sql, counts = dumped()
    schema = sqlite_schema()
    Signup.objects.all().delete()
    engine = get_engine()
    connections[engine.alias].close()

    engine.restore(sql=io.BytesIO(sql), expected_counts=counts, rules=restore_rules())

    assert sqlite_schema() == schema
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM vip_audit")  # not one more for the copied rows
        assert cursor.fetchone() == (1,)
        cursor.execute("PRAGMA integrity_check")  # the indexes hold exactly the table's rows
        assert cursor.fetchone() == ("ok",)
        cursor.execute("SELECT count(*) FROM waitlist_responses WHERE lower(city) = 'tab\there'")
        assert cursor.fetchone() == (1,)
    assert Signup.objects.count() == len(AWKWARD) + 1
    restored_last = Signup.objects.order_by("-id").values_list("id", flat=True).first()
    later = SignupFactory(full_name="After The Restore")  # the trigger audits it once
    assert later.id > restored_last
    with pytest.raises(IntegrityError), connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO vip_audit VALUES (%s)", [later.id])  # the unique index holds
