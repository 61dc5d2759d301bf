"""When the journal's fdatasync runs (§11, BACKUP_JOURNAL_FSYNC): on the appender's helper
thread, either overlapping the rest of the fan's request and ending before the response
(`wait`, the default, through JournalFlushMiddleware) or beside it (`background`)."""

import errno
import os
import threading
import time

import pytest
from django.conf import settings
from django.urls import reverse

from backups_app import journal
from backups_app.services.journal import (
    journal_close,
    journal_flush_at_exit,
    journal_record_signup,
)
from tests.backups_app.journal.conftest import entries, segments
from tests.factories import SignupFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_flush(monkeypatch):
    """The real fdatasync, made slow enough that an answer not waiting for it would be seen,
    recording which thread ran it and whether it has finished."""
    runs = []
    real_flush = journal.SegmentWriter.flush

    def flush(self):
        run = {"thread": threading.current_thread().name, "done": False}
        runs.append(run)
        time.sleep(0.3)
        real_flush(self)
        run["done"] = True

    monkeypatch.setattr(journal.SegmentWriter, "flush", flush)
    return runs


def test_the_middleware_comes_first_so_its_wait_is_last():
    assert settings.MIDDLEWARE[0] == "backups_app.middleware.JournalFlushMiddleware"


@pytest.fixture
def wait_mode(settings):
    settings.BACKUP_JOURNAL_FSYNC = "wait"  # the default, said where a test relies on it


@pytest.fixture
def background_mode(settings):
    settings.BACKUP_JOURNAL_FSYNC = "background"


def test_in_the_background_the_thanks_redirect_does_not_wait_for_the_disk(
    client, backup_dir, signup_data, slow_flush, background_mode
):
    response = client.post(reverse("waitlist:signup"), signup_data)
    helper_runs_done = [run["done"] for run in slow_flush if run["thread"] != "MainThread"]

    assert response.status_code == 302
    assert not any(helper_runs_done)  # answered before the (slow) flush ended
    # The line is in the file (a kill -9 of the worker now loses nothing), and the helper
    # thread's flush ends on its own.
    [entry] = entries(backup_dir)
    assert entry.row["email"] == signup_data["email"].lower()
    wait_until(
        lambda: any(run["done"] and run["thread"] != "MainThread" for run in slow_flush),
        what="the helper thread's flush to end",
        seconds=10,
    )
    assert [run["thread"].startswith("journal-flush") for run in slow_flush] == [False, True]


def test_a_background_flush_that_fails_is_logged(backup_dir, monkeypatch, caplog, background_mode):
    def flush(self):
        raise OSError(errno.EIO, "Input/output error")

    SignupFactory(email="first@example.com")  # opens the segment: its header is flushed inline
    monkeypatch.setattr(journal.SegmentWriter, "flush", flush)
    signup = SignupFactory(email="second@example.com")
    journal_close()  # waits for the helper thread

    assert f"entry for signup {signup.pk} not written (" in caplog.text


def test_the_thanks_redirect_waits_for_the_flush_run_beside_the_request(
    client, backup_dir, signup_data, slow_flush, wait_mode
):
    response = client.post(reverse("waitlist:signup"), signup_data)

    assert response.status_code == 302
    # The header line is flushed when the segment opens; the entry's flush ran on the helper
    # thread, and had finished by the time the response came back.
    entry_flush = slow_flush[-1]
    assert entry_flush["thread"].startswith("journal-flush")
    assert entry_flush["done"]
    [entry] = entries(backup_dir)
    assert entry.row["email"] == signup_data["email"].lower()


def test_outside_a_request_the_entry_is_flushed_before_the_save_returns(
    backup_dir, slow_flush, wait_mode
):
    SignupFactory()

    assert all(run["done"] for run in slow_flush)
    assert all(not run["thread"].startswith("journal-flush") for run in slow_flush)


def test_a_failed_flush_is_logged_and_the_next_entry_starts_a_new_segment(
    backup_dir, monkeypatch, caplog, wait_mode
):
    real_flush = journal.SegmentWriter.flush
    failures = []

    def flush(self):
        if threading.current_thread().name.startswith("journal-flush") and not failures:
            failures.append(self.name)
            raise OSError(errno.EIO, "Input/output error")
        real_flush(self)

    monkeypatch.setattr(journal.SegmentWriter, "flush", flush)

    with journal_flush_at_exit():
        journal_record_signup(signup_id=1, row={"id": 1, "email": "one@example.com"})
    assert "entry for signup 1 not written (" in caplog.text
    with journal_flush_at_exit():
        journal_record_signup(signup_id=2, row={"id": 2, "email": "two@example.com"})

    names = [path.name for path in segments(backup_dir)]
    assert len(names) == 2
    assert failures == [names[0]]
    by_id = {entry.signup_id: entry.segment for entry in entries(backup_dir)}
    assert by_id[2] == names[1]


def test_a_forked_child_flushes_on_a_helper_thread_of_its_own(backup_dir, wait_mode):
    with journal_flush_at_exit():  # the parent's helper thread exists before the fork
        journal_record_signup(signup_id=1, row={"id": 1, "email": "parent@example.com"})
    pid = os.fork()
    if pid == 0:  # a gunicorn worker: the parent's thread did not come along
        code = 1
        try:
            with journal_flush_at_exit():
                journal_record_signup(signup_id=2, row={"id": 2, "email": "child@example.com"})
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child's flush never ran: it waited on the parent's thread")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    emails = {entry.row["email"] for entry in entries(backup_dir)}
    assert emails == {"parent@example.com", "child@example.com"}


@pytest.mark.parametrize(
    ("value", "mode"),
    [("background", "background"), ("wait", "wait"), ("1", "wait"), ("off", "off"), (False, "off")],
)
def test_the_flush_setting_reads_words_and_booleans(settings, value, mode):
    from backups_app import conf

    settings.BACKUP_JOURNAL_FSYNC = value
    assert conf.journal_flush_mode() == mode


def test_a_misspelt_flush_setting_is_reported_at_start_up(settings):
    from backups_app.checks import check_backup_settings

    settings.BACKUP_JOURNAL_FSYNC = "sometimes"
    [error] = check_backup_settings(None)
    assert "BACKUP_JOURNAL_FSYNC must be one of wait, background, off" in error.msg


def test_entries_written_together_share_a_flush_in_the_background(
    backup_dir, monkeypatch, background_mode
):
    real_flush = journal.SegmentWriter.flush
    helper_flushes = []

    def flush(self):
        if threading.current_thread().name.startswith("journal-flush"):
            helper_flushes.append(self.lines)
        real_flush(self)

    monkeypatch.setattr(journal.SegmentWriter, "flush", flush)
    for number in range(1, 21):
        journal_record_signup(signup_id=number, row={"id": number, "email": f"{number}@x.org"})
    journal_close()  # waits for the helper thread

    # Twenty entries (lines 1-20 after the header), two or three fdatasyncs, the last one
    # covering them all.
    assert 1 <= len(helper_flushes) <= 3
    assert helper_flushes[-1] == 21
    assert len(entries(backup_dir)) == 20
