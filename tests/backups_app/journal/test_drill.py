"""The drills of §11 over real HTTP on gunicorn: a table dropped, truncated or overwritten from
outside the app after the last backup loses no signup a fan was thanked for."""

import functools

import pytest
from django.core.management import call_command
from django.db import connection

from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore
from backups_app.services.journal import journal_replay
from tests.backups_app.journal.conftest import Fan, entries
from tests.threads import run_together
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def sign_up(site, emails: list[str]) -> None:
    fan = Fan(site)
    try:
        for email in emails:
            assert fan.sign_up(email, city="Leeds") == 302
    finally:
        fan.close()


def raw_sql(statement: str) -> None:
    """What someone in a psql or sqlite3 session does: no app, no signal, no journal."""
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()


def table_rows() -> list[tuple]:
    return list(Signup.objects.order_by("id").values_list("id", "email", "city", "created_at"))


def signed_up_around_a_backup(site, *, before: int, after: int) -> tuple[Backup, list[tuple]]:
    """`before` fans sign up on `site`, a backup is taken, `after` more sign up: that backup,
    and the table's rows as the site accepted them."""
    sign_up(site, [f"early{n}@example.com" for n in range(before)])
    backup = backup_create(kind=Backup.Kind.MANUAL)
    sign_up(site, [f"late{n}@example.com" for n in range(after)])
    return backup, table_rows()


def test_dropped_table_comes_back_whole_from_the_newest_backup_and_the_journal(
    start_site, backup_dir
):
    site = start_site()
    backup, accepted = signed_up_around_a_backup(site, before=15, after=10)
    assert len(accepted) == 25

    raw_sql("DROP TABLE waitlist_responses")
    call_command("migrate", "--noinput", verbosity=0)
    result = backup_restore(name=backup.name, triggered_by="drill")

    assert table_rows() == accepted
    assert result.journal is not None
    assert (result.journal.inserted, result.journal.already_present) == (10, 15)
    # The site takes new signups afterwards: the id sequence is past every replayed id.
    sign_up(site, ["after@example.com"])
    assert Signup.objects.count() == 26


def test_truncate_and_overwrite_from_outside_are_undone_by_restore_and_replay(
    start_site, backup_dir
):
    site = start_site()
    backup, accepted = signed_up_around_a_backup(site, before=8, after=6)

    raw_sql("UPDATE waitlist_responses SET email = 'x' || id || '@overwritten.example'")
    assert journal_replay(dry_run=True).changed_outside == 14
    restored = backup_restore(name=backup.name, triggered_by="drill", exact=True)
    assert restored.journal is None  # a point-in-time restore does not replay by itself
    journal_replay()
    assert table_rows() == accepted

    raw_sql("DELETE FROM waitlist_responses")  # what TRUNCATE does, on both databases
    backup_restore(name=backup.name, triggered_by="drill")
    assert table_rows() == accepted


def test_a_worker_killed_right_after_its_thanks_page_has_journalled_the_signup(
    start_site, backup_dir
):
    site = start_site(workers=1)
    [worker] = site.worker_pids()
    fan = Fan(site)
    assert fan.sign_up("last-words@example.com") == 302
    import os
    import signal

    os.kill(worker, signal.SIGKILL)
    fan.close()

    [entry] = entries(backup_dir)
    assert entry.row["email"] == "last-words@example.com"


def test_eight_clients_on_several_workers_journal_exactly_the_signups_thanked(
    start_site, backup_dir
):
    site = start_site(workers=3)
    accepted: list[list[str]] = [[] for _ in range(8)]

    def client(number: int) -> None:
        fan = Fan(site)
        try:
            for n in range(500):
                email = f"c{number}-{n}@load.example"
                if fan.sign_up(email) == 302:
                    accepted[number].append(email)
        finally:
            fan.close()

    run_together(*[functools.partial(client, n) for n in range(8)], timeout=600)

    thanked = sorted(email for emails in accepted for email in emails)
    journalled = sorted(entry.row["email"] for entry in entries(backup_dir))
    assert len(thanked) == 4000
    assert journalled == thanked
