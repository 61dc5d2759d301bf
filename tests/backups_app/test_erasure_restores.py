"""No path that brings data back brings an erased fan back (§12), on both databases."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection

from backups_app.engines import get_engine
from backups_app.models import Backup
from backups_app.services import backup_create, backup_diff, backup_merge, backup_restore
from backups_app.services.export import waitlist_export_csv
from backups_app.services.journal import journal_replay
from backups_app.services.merge import _insert, _live_columns
from backups_app.services.schema_change import schema_change_rollback
from tests.factories import SignupFactory
from waitlist.erasure import email_hash
from waitlist.models import Erasure, Signup
from waitlist.services import signup_erase

pytestmark = pytest.mark.django_db(transaction=True)


def emails() -> set[str]:
    return set(Signup.objects.values_list("email", flat=True))


@pytest.fixture
def erased_after_backup(signups, backup_dir):
    """A backup holding Ada, then Ada erased: the backup is the danger."""
    backup = backup_create(kind=Backup.Kind.MANUAL)
    result = signup_erase(email="ADA@example.com", erased_by="test", reason="asked by mail")
    assert result.signups_erased == 1
    assert "ada@example.com" not in emails()
    return backup


def test_full_restore_of_an_older_backup_keeps_the_fan_erased(erased_after_backup):
    result = backup_restore(name=erased_after_backup.name, triggered_by="test")

    assert emails() == {"zoe@example.com", "grace@example.com"}
    assert result.signups_kept_erased == 1
    assert result.as_dict()["signups_kept_erased"] == 1
    # The ledger survived the restore, which held none of it.
    assert Erasure.objects.count() == 1


def test_exact_restore_keeps_the_fan_erased(erased_after_backup):
    SignupFactory(email="later@example.com")

    result = backup_restore(name=erased_after_backup.name, exact=True)

    assert emails() == {"zoe@example.com", "grace@example.com"}
    assert (result.signups_kept_erased, result.signups_removed) == (1, 1)


def test_merge_and_its_preview_keep_the_fan_erased(erased_after_backup):
    Signup.objects.filter(email="zoe@example.com").delete()

    diff = backup_diff(name=erased_after_backup.name)
    result = backup_merge(name=erased_after_backup.name)

    assert (diff.missing, diff.kept_erased) == (1, 1)
    assert "ada@example.com" not in json.dumps(diff.as_dict())
    assert (result.inserted, result.kept_erased) == (1, 1)
    assert emails() == {"zoe@example.com", "grace@example.com"}


def test_restore_after_the_ledger_itself_was_lost_keeps_the_backup_erasures(
    erased_after_backup,
):
    """The ledger is the union of live and backup: a backup taken after the erasure carries
    it into a database whose ledger was wiped, and an older backup then stays harmless."""
    after = backup_create(kind=Backup.Kind.MANUAL)
    Erasure.objects.all().delete()  # e.g. a fresh database

    backup_restore(name=after.name)
    assert Erasure.objects.count() == 1
    backup_restore(name=erased_after_backup.name)

    assert "ada@example.com" not in emails()


def test_a_restore_applies_the_backups_erasures_to_the_live_signups_it_keeps(
    erased_after_backup,
):
    """An old dump put back by hand with psql brought Ada back and emptied the ledger: the
    next restore of a backup that knows her erasure removes her from the signups it keeps."""
    erased_at = Erasure.objects.get().erased_at
    after = backup_create(kind=Backup.Kind.MANUAL)
    Erasure.objects.all().delete()
    Signup.objects.bulk_create(
        [Signup(full_name="Ada", email="ada@example.com", consent=True, created_at=erased_at)]
    )

    result = backup_restore(name=after.name, replay=False)

    assert "ada@example.com" not in emails()
    assert (result.signups_kept_erased, result.signups_kept) == (1, 0)
    assert Erasure.objects.count() == 1


def test_a_fan_who_signs_up_again_after_the_erasure_stays(erased_after_backup):
    """Her old signup in the backup goes; her new one is a later signup the restore keeps
    itself (the journal is not replayed here, so it cannot be what brings her back)."""
    back = SignupFactory(email="ada@example.com", full_name="Ada again")

    result = backup_restore(name=erased_after_backup.name, replay=False)

    assert Signup.objects.get(email="ada@example.com").pk == back.pk
    assert (result.signups_kept_erased, result.signups_kept) == (1, 1)


def test_erasing_twice_is_harmless(erased_after_backup):
    again = signup_erase(email="ada@example.com", erased_by="test")

    assert (again.signups_erased, again.erased_before) == (0, True)
    assert Erasure.objects.count() == 2
    backup_restore(name=erased_after_backup.name)
    assert "ada@example.com" not in emails()


def test_erasing_an_address_not_on_the_list_still_stops_an_old_backup(signups, backup_dir):
    """Erased while missing from the table (deleted earlier): the backup still holds it."""
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="grace@example.com").delete()

    result = signup_erase(email="grace@example.com", erased_by="test")
    backup_restore(name=backup.name)

    assert result.signups_erased == 0
    assert "not on the list" in result.summary()
    assert "grace@example.com" not in emails()


def test_the_ledger_holds_no_address_in_clear(erased_after_backup, backup_dir):
    after = backup_create(kind=Backup.Kind.MANUAL)
    erasure = Erasure.objects.get()

    assert erasure.email_hash == email_hash("ada@example.com")
    assert "ada" not in json.dumps(list(Erasure.objects.values()), default=str).lower()
    # The backup holds the ledger (its hash), and Ada's address only in the older backup.
    assert erasure.email_hash.encode() in (backup_dir / after.name).read_bytes()
    assert b"ada@example.com" not in (backup_dir / after.name).read_bytes()


def test_exports_never_list_an_erased_fan(erased_after_backup, tmp_path):
    backup_restore(name=erased_after_backup.name)

    export = waitlist_export_csv(path=tmp_path / "out.csv")

    with open(export.path, newline="") as handle:
        listed = {row["email"] for row in csv.DictReader(handle)}
    assert listed == {"zoe@example.com", "grace@example.com"}


def test_an_erased_row_put_back_behind_the_apps_back_is_not_exported(erased_after_backup, tmp_path):
    """Belt and braces: a row inserted with SQL (an emergency restore by hand) is not exported."""
    Signup.objects.bulk_create([Signup(full_name="Ada", email="ada@example.com", consent=True)])
    Signup.objects.filter(email="ada@example.com").update(
        created_at=Erasure.objects.get().erased_at
    )

    export = waitlist_export_csv(path=tmp_path / "out.csv")
    subset = waitlist_export_csv(signups=Signup.objects.all(), path=tmp_path / "subset.csv")

    for path, rows in ((export.path, export.row_count), (subset.path, subset.row_count)):
        with open(path, newline="") as handle:
            assert "ada@example.com" not in {row["email"] for row in csv.DictReader(handle)}
        assert rows == 2


def test_journal_replay_keeps_a_fan_erased_whose_row_vanished_behind_the_apps_back(
    signups, backup_dir
):
    """The incident: the table is emptied with SQL (no deletion reaches the journal), a fan
    asks to be erased meanwhile, then the journal is replayed."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")
    signup_erase(email="zoe@example.com", erased_by="test")

    report = journal_replay()

    assert (report.inserted, report.kept_erased, report.missing) == (2, 1, 2)
    assert "1 of erased fans (kept erased)" in report.summary()
    assert emails() == {"ada@example.com", "grace@example.com"}


def test_rollback_of_a_schema_change_keeps_the_fan_erased(signup_extra_column):
    signup_erase(email="grace@example.com", erased_by="test")

    result = schema_change_rollback(change_id=signup_extra_column.pk, triggered_by="test")

    assert result.schema_matches
    assert emails() == {"ada@example.com", "zoe@example.com"}
    assert "1 signup(s) of erased fans in the backup stayed erased" in result.detail


def test_restore_command_reports_the_fans_kept_erased(erased_after_backup, capsys):
    call_command("restore", erased_after_backup.name, "--yes", "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["signups_kept_erased"] == 1


def test_restore_and_merge_commands_say_how_many_stayed_erased(erased_after_backup):
    Signup.objects.filter(email="zoe@example.com").delete()
    merged, diffed, restored = io.StringIO(), io.StringIO(), io.StringIO()

    call_command("restore", erased_after_backup.name, "--diff", stdout=diffed)
    call_command("restore", erased_after_backup.name, "--merge", "--yes", stdout=merged)
    call_command("restore", erased_after_backup.name, "--yes", stdout=restored)

    for out in (diffed, merged):
        assert "1 signup(s) of erased fans in the backup stay erased." in out.getvalue()
        assert "ada@example.com" not in out.getvalue()
    assert "1 signup(s) of erased fans in the backup stayed erased." in restored.getvalue()


@pytest.mark.postgresql_only
def test_the_erasure_key_never_appears_in_the_sql_psql_runs(erased_after_backup, settings):
    """The pads reach psql as a session setting; a statement error echoes no key."""
    settings.WAITLIST_ERASURE_KEY = "k" * 40
    signup_erase(email="zoe@example.com", erased_by="test")
    from backups_app.engines.postgresql import restore_epilogue_sql
    from backups_app.services.restore import restore_rules

    rules = restore_rules()
    text = restore_epilogue_sql(rules)
    assert "k" * 40 not in text and rules.erasure.pads not in text
    environment = get_engine().tool_environment(erasure_pads=rules.erasure.pads)
    assert f"waitlist.erasure_pads={rules.erasure.pads}" in environment["PGOPTIONS"]


def test_apply_erasures_after_an_emergency_restore_by_hand(erased_after_backup):
    """psql or sqlite3 knows nothing of the ledger: the command removes what it brought back."""
    erased_at = Erasure.objects.get().erased_at
    Signup.objects.bulk_create(
        [Signup(full_name="Ada", email="ada@example.com", consent=True, created_at=erased_at)]
    )
    dry, real = io.StringIO(), io.StringIO()

    call_command("apply_erasures", "--dry-run", stdout=dry)
    assert "ada@example.com" in emails()
    call_command("apply_erasures", "--json", stdout=real)

    assert "1 signup(s) of erased fans are in the table; would remove them." in dry.getvalue()
    report = json.loads(real.getvalue())
    assert (report["found"], report["removed"]) == (1, 1)
    assert report["backups_before_newest_erasure"] == [erased_after_backup.name]
    assert "ada@example.com" not in emails()


def test_apply_erasures_names_the_pinned_backups_that_keep_erased_data(erased_after_backup):
    call_command("backup", "--pin", stdout=io.StringIO())  # after the erasure: holds nothing
    Backup.objects.filter(pk=erased_after_backup.pk).update(pinned=True)
    out = io.StringIO()

    call_command("apply_erasures", stdout=out)

    assert out.getvalue().startswith("No signup of an erased fan is in the table.")
    assert "1 kept backup(s) were taken before the newest erasure" in out.getvalue()
    assert "1 of them are pinned and never rotate" in out.getvalue()


def test_a_merge_batch_leaves_out_a_fan_erased_after_it_was_read(signups, backup_dir):
    """The race: a batch read from the backup, the fan erased, then the batch inserted."""
    ada = Signup.objects.filter(email="ada@example.com").values()[0]
    signup_erase(email="ada@example.com", erased_by="test")

    inserted = _insert([ada], _live_columns("default"))

    assert inserted == 0
    assert "ada@example.com" not in emails()


@pytest.mark.postgresql_only
def test_a_merge_batch_waits_for_an_erasure_being_recorded(signups):
    """An erasure not yet committed holds the ledger: a merge batch waits for it rather than
    insert past it (lock_ledger() before the batch reads the ledger)."""
    ada = Signup.objects.filter(email="ada@example.com").values()[0]
    Signup.objects.filter(pk=ada["id"]).delete()
    holder = get_engine().connect()
    try:
        holder.execute(  # an erasure in flight, as signup_erase() runs it
            "INSERT INTO waitlist_erasure (email_hash, erased_at, erased_by, reason, "
            "signups_erased) VALUES ('x', now(), 'test', '', 0)"
        )
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        with pytest.raises(DatabaseError, match="lock timeout"):
            _insert([ada], _live_columns("default"))
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert _insert([ada], _live_columns("default")) == 1
