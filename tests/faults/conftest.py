"""Fixtures for the fault suite: a PostgreSQL server the tests may stop, and a disk that fills up.

The PostgreSQL tests never stop the shared server every other test uses: they start a
throwaway cluster of their own (initdb into a temporary folder, a free loopback port) once per
session, and stop it with `pg_ctl stop -m immediate`, which is what a crash or a lost database
host looks like to its clients. The disk tests mount a small tmpfs (the suite runs as root in
CI) so that "No space left on device" comes from a real file system.
"""

import contextlib
import errno
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from backups_app import files
from backups_app.models import Backup
from backups_app.services.verify import check_files
from tests.backups_app.conftest import on_postgresql
from tests.subprocesses import database_url, free_port


def write_bash_script(path: Path, body: str) -> Path:
    """An executable bash script standing in for a tool (bash for PIPESTATUS)."""
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def server_programs() -> Path:
    """The folder of initdb and pg_ctl, of the same major version as the pg_dump on PATH."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    # "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)": the major version is 15.
    version = subprocess.run(
        ["pg_dump", "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = re.search(r"(\d+)\.\d+", version)
    candidates = [f"/usr/lib/postgresql/{major.group(1)}/bin"] if major else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    pytest.fail("initdb not found: install the PostgreSQL server package (e.g. postgresql-15)")


class ThrowawayPostgreSQL:
    """A PostgreSQL cluster of our own in a temporary folder: trust auth, loopback only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.programs = server_programs()
        self.port = free_port()
        # The server refuses to run as root: as root, run it as the postgres user.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_owner, str(self.programs / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"{program} {args[0]} failed: {result.stderr}{result.stdout}\n{log}")

    def create(self) -> None:
        if self.as_owner:
            shutil.chown(self.folder, user="postgres", group="postgres")
        self._pg(
            "initdb",
            f"--pgdata={self.data}",
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            # A throwaway cluster: durability against power loss is not what these tests test.
            "-c fsync=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl", "start", "--wait", "-D", str(self.data), "-l", str(self.log), "-o", options
        )

    def stop(self) -> None:
        """Stop at once, as a crash or a lost host does: clients see their connection drop."""
        self._pg("pg_ctl", "stop", "--wait", "-D", str(self.data), "-m", "immediate")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run `sql`; its output unaligned, tuples only. Our sessions are named, so tests can
        tell them from the processes under test."""
        result = subprocess.run(
            ["psql", self.url(dbname), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PGAPPNAME": "faults-probe"},
        )
        if result.returncode != 0:
            pytest.fail(f"psql failed on {sql!r}: {result.stderr}")
        return result.stdout.strip()

    def destroy(self) -> None:
        if self.running:
            subprocess.run(
                [
                    *self.as_owner,
                    str(self.programs / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                ],
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def throwaway_postgresql() -> Iterator[ThrowawayPostgreSQL]:
    """A PostgreSQL cluster the tests may stop and start; never the shared server.

    Outside pytest's own temporary folders, which are private to root and so unreadable by the
    postgres user the server runs as.
    """
    cluster = ThrowawayPostgreSQL(Path(tempfile.mkdtemp(prefix="waitlist-faults-pg-")))
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


class SmallDisk:
    """A small tmpfs: a real file system that runs out of room (bytes, or inodes)."""

    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.filler = mountpoint / "filler"

    def free_bytes(self) -> int:
        stats = os.statvfs(self.mountpoint)
        return stats.f_bavail * stats.f_frsize

    def fill(self, *, leave: int) -> None:
        """Take all the room but `leave` bytes."""
        size = self.free_bytes() - leave
        assert size > 0, "the disk is already fuller than asked"
        with self.filler.open("wb") as handle:
            handle.write(b"\0" * size)

    def use_up_inodes(self, *, leave: int) -> None:
        """Create empty files until the file system has room for just `leave` more files.

        Whatever the kernel counts, this is exact: fill until ENOSPC, then free `leave`.
        """
        folder = self.mountpoint / "inodes"
        folder.mkdir()
        created = []
        for number in range(100_000):  # bounded; the mount allows far fewer
            path = folder / str(number)
            try:
                path.touch(exist_ok=False)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
                break
            created.append(path)
        else:
            pytest.fail("the small disk never ran out of inodes")
        assert len(created) >= leave
        for path in created[-leave:]:
            path.unlink()


@pytest.fixture
def small_disk(tmp_path) -> Iterator[SmallDisk]:
    """A 4 MB tmpfs with 64 inodes, mounted for this test and unmounted after it.

    Needs root (CI runs as root): a tmpfs is what "the disk is full" really is, where a file-size
    limit (RLIMIT_FSIZE) would give EFBIG and SIGXFSZ instead of ENOSPC.
    """
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=64,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(
            "the disk-full tests mount a small tmpfs and need root (CI runs as root): "
            + mounted.stderr.strip()
        )
    try:
        yield SmallDisk(mountpoint)
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["umount", "--lazy", str(mountpoint)], capture_output=True, timeout=60)


# --- a waitlist for the processes killed under test, and what must hold after -----------

SIGNUPS = 30_000


def insert_signups(count: int, *, first: int = 0) -> None:
    """`count` committed signups, written by the database itself (fast)."""
    series = (
        "generate_series(%s, %s) AS g(n)"
        if on_postgresql()
        else "(WITH RECURSIVE s(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM s WHERE n < %s) "
        "SELECT n FROM s) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO waitlist_responses (full_name, email, phone, city, country, message, "  # noqa: S608 - constants only
            "consent, created_at) SELECT 'Fan ' || n, 'fan' || n || '@example.com', '', '', '', "
            f"'Front row please', true, CURRENT_TIMESTAMP FROM {series}",
            [first, first + count - 1],
        )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll as fast as we can (bounded) until `condition` holds or the process has ended."""
    for _ in range(200_000):
        if condition() or process.poll() is not None:
            return
        time.sleep(0.0002)


def names_on_disk(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def assert_no_dump_without_its_manifest(folder: Path) -> None:
    names = set(names_on_disk(folder))
    lone = [
        name
        for name in names
        if files.NAME_PATTERN.match(name) and files.manifest_name_for(name) not in names
    ]
    assert lone == [], f"dumps without their manifest: {lone}"


def assert_cleared_up_and_settled(folder: Path, killed: list[str]) -> None:
    """After the next worker pass: nothing left but backups that verify, and no entry running."""
    names = names_on_disk(folder)
    assert [n for n in names if n.startswith(files.PARTIAL_PREFIX)] == []
    assert_no_dump_without_its_manifest(folder)
    dumps = {files.manifest_name_for(n) for n in names if files.NAME_PATTERN.match(n)}
    manifests = {n for n in names if files.MANIFEST_PATTERN.match(n)}
    assert manifests - dumps == set(), "manifests without their dump"
    assert not Backup.objects.filter(status=Backup.Status.RUNNING).exists()
    for name in (n for n in names if files.NAME_PATTERN.match(n)):
        check_files(dump=folder / name)  # raises VerificationError
        assert Backup.objects.get(name=name).status == Backup.Status.SUCCEEDED
    for name in killed:
        backup = Backup.objects.get(name=name)
        if backup.status == Backup.Status.FAILED:
            assert not (folder / name).exists()
            assert any(m.subject.endswith(f"Backup {name} was interrupted") for m in mail.outbox)
        else:  # killed after both files were in place: it was complete, and is recorded so
            assert (folder / name).exists()


@pytest.fixture
def site(backup_dir, settings, mailoutbox) -> dict[str, str]:
    """A waitlist of SIGNUPS signups; the environment for child processes to use it; a worker
    pass here that only clears up (the killed processes' own work is what is under test)."""
    insert_signups(SIGNUPS)
    settings.BACKUP_DEBOUNCE_SECONDS = settings.BACKUP_MAX_DELAY_SECONDS = 10**6
    settings.BACKUP_RESTORE_TEST_SECONDS = 10**6
    return {
        "DATABASE_URL": database_url(),
        "BACKUP_DIR": str(backup_dir),
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],  # the tests' own (pyproject)
    }
