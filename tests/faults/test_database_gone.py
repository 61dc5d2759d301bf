"""PostgreSQL going away in the middle of a backup and of a restore (docs/spec.md §4.5, §9).

The server is a throwaway cluster of our own, stopped with `pg_ctl stop -m immediate` (what a
crash or a lost database host looks like to clients) while `manage.py` runs in a child process,
as an operator runs it. Each scenario runs once; the tests below read what it left behind.

To stop the server at a known point, pg_dump and psql run behind a wrapper that holds their
stream still until the test says go: pg_dump's output (so the server is stuck sending the
signup table), or psql's input (so psql is inside the restore's transaction, half the dump in).
"""

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from backups_app import files
from tests.faults.conftest import write_bash_script
from tests.subprocesses import run_manage, start_manage
from tests.waiting import wait_until

# The commands' output, read by the tests.
PIPED = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}

pytestmark = pytest.mark.postgresql_only

# 8000 signups of about 1 KB: the signup table (about 9 MB) is more than the socket and pipe buffers
# between the server and pg_dump hold, so a server stopped mid-COPY has rows left to send.
INSERT_SIGNUPS = """
INSERT INTO waitlist_responses
    (full_name, email, phone, city, country, message, consent, created_at)
SELECT 'Fan ' || g, 'fan' || g || '@example.com', '', 'City ' || (g % 50), 'Iceland',
       repeat(md5(g::text), 31), true, now() - g * interval '1 minute'
FROM generate_series(1, 8000) AS g
"""
SIGNUP_DIGEST = (
    "SELECT count(*) || ' ' || md5(string_agg(t::text, E'\\n' ORDER BY id)) "
    "FROM waitlist_responses t"
)


@pytest.fixture(scope="module")
def waitlist_template(throwaway_postgresql, tmp_path_factory) -> str:
    """A migrated database with 8000 signups; each scenario runs on a copy of it."""
    cluster = throwaway_postgresql
    cluster.psql("CREATE DATABASE waitlist_template")
    folder = tmp_path_factory.mktemp("template")
    migrated = run_manage(
        "migrate", "-v0", **site_environment(cluster, "waitlist_template", folder)
    )
    assert migrated.returncode == 0, migrated.stderr
    cluster.psql(INSERT_SIGNUPS, "waitlist_template")
    return "waitlist_template"


def site_environment(cluster, dbname: str, folder: Path, **extra: str) -> dict[str, str]:
    """The site's settings for a child `manage.py`: the throwaway database, a backup folder of
    its own, and mail to ADMINS written to files."""
    return {
        "DATABASE_URL": cluster.url(dbname),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "faults-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "BACKUP_DIR": str(folder / "backups"),
        "EXPORT_DIR": str(folder / "exports"),
        "BACKUP_LOCK_TIMEOUT_SECONDS": "5",
        "DJANGO_ADMINS": "ops@example.com",
        # Four slashes: the file backend's folder is an absolute path.
        "EMAIL_URL": f"filemail:///{folder / 'mail'}",
        **extra,
    }


def held_until(go: Path) -> str:
    """Shell that waits (at most a minute) for the file `go`, then copies stdin to stdout."""
    return (
        f"{{ for _ in $(seq 1200); do [ -e {shlex.quote(str(go))} ] && break; sleep 0.05; done; "
        "cat; }"
    )


def mails(folder: Path) -> list[str]:
    return [path.read_text() for path in sorted((folder / "mail").glob("*"))]


def backup_names(folder: Path) -> list[str]:
    """Files in the backup folder under a backup's name (dumps and manifests)."""
    folder = folder / "backups"
    return sorted(
        path.name
        for path in folder.iterdir()
        if files.NAME_PATTERN.match(path.name) or files.MANIFEST_PATTERN.match(path.name)
    )


def error_line(stderr: str) -> str:
    """The error `manage.py` ended with; the test fails unless it is one line at the very end
    (log lines before it are fine)."""
    assert "Traceback" not in stderr, stderr
    _, marker, message = stderr.rstrip().rpartition("CommandError: ")
    assert marker, stderr
    assert "\n" not in message, f"the error is more than one line:\n{marker}{message}"
    return message


def stopped_midway(cluster, process, go: Path, *, midway, what: str, left) -> tuple[str, list[str]]:
    """Wait until `midway()` while `process` runs and stop the server under it; then create the
    file `go`, which lets its held stream flow, and once it has ended start the server again.
    Returns its stderr, and `left()` as it was before the server came back."""
    try:
        wait_until(lambda: process.poll() is not None or midway(), what=what)
        assert process.poll() is None, (
            f"manage.py {process.args[2]} ended before the server could be stopped"
        )
        cluster.stop()
    finally:
        go.touch()
        _, stderr = process.communicate(timeout=120)
        left_in_folder = left()
        if not cluster.running:
            cluster.start()
    return stderr, left_in_folder


@dataclass
class Outcome:
    """What an interrupted command left: its exit and stderr, the backup folder, the signups
    before and after (count and checksum), the mail to ADMINS, and the commands run after."""

    returncode: int
    stderr: str
    left_in_folder: list[str]
    data_before: str
    data_after: str
    mails: list[str]
    sync: subprocess.CompletedProcess | None = None
    data_in_backup: str = ""
    run_again: subprocess.CompletedProcess | None = None
    data_after_running_again: str = ""


@pytest.fixture(scope="module")
def dump_interrupted(throwaway_postgresql, waitlist_template, tmp_path_factory) -> Outcome:
    """`manage.py backup` with the server stopped while pg_dump is in the signup table; then
    the server is started again and `listbackups --sync` is run."""
    cluster = throwaway_postgresql
    cluster.psql("CREATE DATABASE dump_interrupted TEMPLATE waitlist_template")
    folder = tmp_path_factory.mktemp("dump-interrupted")
    go = folder / "go"
    pg_dump = write_bash_script(
        folder / "held-pg_dump", f'pg_dump "$@" | {held_until(go)}\nexit "${{PIPESTATUS[0]}}"\n'
    )
    environment = site_environment(cluster, "dump_interrupted", folder)
    data_before = cluster.psql(SIGNUP_DIGEST, "dump_interrupted")

    backup = start_manage("backup", **PIPED, **environment, BACKUP_PG_DUMP=str(pg_dump))
    # The server blocks on sending COPY rows to pg_dump, whose output is held.
    stuck = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' "
        "AND wait_event = 'ClientWrite' AND query LIKE 'COPY public.waitlist_responses%'"
    )
    stderr, left = stopped_midway(
        cluster,
        backup,
        go,
        midway=lambda: cluster.psql(stuck) != "0",
        what="pg_dump to be half-way through the signup table",
        left=lambda: sorted(p.name for p in (folder / "backups").glob("*")),
    )

    synced = run_manage("listbackups", "--sync", "--json", **environment)
    return Outcome(
        returncode=backup.returncode,
        stderr=stderr,
        left_in_folder=left,
        data_before=data_before,
        data_after=cluster.psql(SIGNUP_DIGEST, "dump_interrupted"),
        mails=mails(folder),
        sync=synced,
    )


def test_backup_interrupted_by_the_server_fails_with_one_clear_line(dump_interrupted):
    assert dump_interrupted.returncode != 0
    message = error_line(dump_interrupted.stderr)
    assert "pg_dump failed" in message or "server" in message, message


def test_backup_interrupted_by_the_server_leaves_no_file_under_a_backup_name(dump_interrupted):
    names = dump_interrupted.left_in_folder
    assert not [n for n in names if not n.startswith(files.PARTIAL_PREFIX)], names


def test_backup_interrupted_by_the_server_is_failed_in_the_catalogue_once_it_is_back(
    dump_interrupted,
):
    sync = dump_interrupted.sync
    assert sync.returncode == 0, sync.stderr
    backups = json.loads(sync.stdout)["backups"]
    assert [b["status"] for b in backups] == ["failed"], backups


def test_backup_interrupted_by_the_server_is_mailed_to_admins(dump_interrupted):
    assert any("failed" in mail and "backup-" in mail for mail in dump_interrupted.mails), (
        dump_interrupted.mails
    )


def test_backup_interrupted_by_the_server_changes_no_data(dump_interrupted):
    assert dump_interrupted.data_after == dump_interrupted.data_before


@pytest.fixture(scope="module")
def restore_interrupted(throwaway_postgresql, waitlist_template, tmp_path_factory) -> Outcome:
    """A backup is taken, the data is changed, and `manage.py restore NAME --yes` runs with the
    server stopped while psql is half-way through the dump; then the server is started again
    and the same restore is run once more."""
    cluster = throwaway_postgresql
    cluster.psql("CREATE DATABASE restore_interrupted TEMPLATE waitlist_template")
    folder = tmp_path_factory.mktemp("restore-interrupted")
    environment = site_environment(cluster, "restore_interrupted", folder)
    taken = run_manage("backup", "--json", **environment)
    assert taken.returncode == 0, taken.stderr
    backup = json.loads(taken.stdout)["backup"]
    data_in_backup = cluster.psql(SIGNUP_DIGEST, "restore_interrupted")
    # What the restore would undo: changed signups, and deleted ones it brings back.
    cluster.psql(
        "UPDATE waitlist_responses SET city = 'Changed' WHERE id % 7 = 0; "
        "DELETE FROM waitlist_responses WHERE id % 11 = 0",
        "restore_interrupted",
    )
    data_before = cluster.psql(SIGNUP_DIGEST, "restore_interrupted")
    go, halfway = folder / "go", folder / "halfway"
    psql = write_bash_script(
        folder / "held-psql",
        f"{{ head -c {backup['size_bytes'] // 2}; touch {shlex.quote(str(halfway))}; "
        f'{held_until(go)}; }} | psql "$@"\nexit "${{PIPESTATUS[1]}}"\n',
    )

    restore = start_manage(
        "restore", backup["name"], "--yes", **PIPED, **environment, BACKUP_PSQL=str(psql)
    )
    # Once psql has been given half the dump, it is inside the restore's transaction.
    stderr, left = stopped_midway(
        cluster,
        restore,
        go,
        midway=halfway.exists,
        what="psql to be given half the dump",
        left=lambda: backup_names(folder),
    )

    data_after = cluster.psql(SIGNUP_DIGEST, "restore_interrupted")
    again = run_manage("restore", backup["name"], "--yes", **environment)
    return Outcome(
        returncode=restore.returncode,
        stderr=stderr,
        left_in_folder=left,
        data_before=data_before,
        data_after=data_after,
        mails=mails(folder),
        data_in_backup=data_in_backup,
        run_again=again,
        data_after_running_again=cluster.psql(SIGNUP_DIGEST, "restore_interrupted"),
    )


def test_restore_interrupted_by_the_server_fails_with_one_clear_line(restore_interrupted):
    assert restore_interrupted.returncode != 0
    message = error_line(restore_interrupted.stderr)
    assert "nothing was changed" in message or "unchanged" in message, message


def test_restore_interrupted_by_the_server_leaves_the_data_exactly_as_it_was(
    restore_interrupted,
):
    assert restore_interrupted.data_after == restore_interrupted.data_before
    assert restore_interrupted.data_before != restore_interrupted.data_in_backup


def test_restore_interrupted_by_the_server_leaves_every_dump_with_its_manifest(
    restore_interrupted,
):
    names = restore_interrupted.left_in_folder
    dumps = [n for n in names if files.NAME_PATTERN.match(n)]
    assert len(dumps) >= 1
    assert sorted(files.manifest_name_for(d) for d in dumps) == sorted(
        n for n in names if files.MANIFEST_PATTERN.match(n)
    )


def test_restore_interrupted_by_the_server_works_when_run_again(restore_interrupted):
    again = restore_interrupted.run_again
    assert again.returncode == 0, again.stderr
    assert restore_interrupted.data_after_running_again == restore_interrupted.data_in_backup
