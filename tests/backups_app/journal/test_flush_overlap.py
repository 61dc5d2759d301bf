"""The journal's flush overlaps the rest of a signup request and still ends before the
response (§11): JournalFlushMiddleware and the appender's helper thread."""

import errno
import os
import threading
import time

import pytest
from django.conf import settings
from django.urls import reverse

from backups_app import journal
from backups_app.services.journal import journal_flush_at_exit, journal_record_signup
from tests.backups_app.journal.test_journal import entries, segments
from tests.factories import SignupFactory

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


def test_the_thanks_redirect_waits_for_the_flush_run_beside_the_request(
    client, backup_dir, signup_data, slow_flush
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


def test_outside_a_request_the_entry_is_flushed_before_the_save_returns(backup_dir, slow_flush):
    SignupFactory()

    assert all(run["done"] for run in slow_flush)
    assert all(not run["thread"].startswith("journal-flush") for run in slow_flush)


def test_a_failed_flush_is_logged_and_the_next_entry_starts_a_new_segment(
    backup_dir, monkeypatch, caplog
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


def test_a_forked_child_flushes_on_a_helper_thread_of_its_own(backup_dir):
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
