"""Fixtures for backup tests: an isolated BACKUP_DIR and real, committed data.

Backups read the database from other connections (pg_dump, the sqlite3 shell), which only see
committed rows, so these tests use transactional_db rather than a rolled-back transaction.
"""

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection

from backups_app import files
from backups_app.models import Backup, SchemaChange
from backups_app.services import backup_create, backup_restore
from backups_app.signing import manifest_sign
from tests.factories import SignupFactory
from tests.migration_lab.lab import lab_app
from waitlist.models import Signup


@pytest.fixture
def signups(transactional_db, backup_dir):
    """Three committed signups."""
    return [
        SignupFactory(full_name="Ada Lovelace", email="ada@example.com", message="It's O'Brien's"),
        SignupFactory(full_name="Zoë Ångström", email="zoe@example.com", message="multi\nline"),
        SignupFactory(full_name="Grace Hopper", email="grace@example.com", city="Arlington"),
    ]


@pytest.fixture(name="add_newer_table")
def add_newer_table_fixture():
    """Call it after taking a backup: a live table `vip_notes`, with one row, that the backup
    does not hold (dropped again after the test)."""

    def add() -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE vip_notes (note varchar(20))")
            cursor.execute("INSERT INTO vip_notes VALUES ('front row')")

    yield add
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS vip_notes")


def take(n: int, **kwargs) -> list[Backup]:
    """`n` manual backups, one after the other (`kwargs` go to backup_create)."""
    return [backup_create(kind=Backup.Kind.MANUAL, **kwargs) for _ in range(n)]


def signup_rows() -> list[tuple]:
    """Every signup as stored (each column, by id), for comparing before and after."""
    columns = [field.attname for field in Signup._meta.concrete_fields]
    return list(Signup.objects.order_by("id").values_list(*columns))


def rewrite_manifest(backup_dir: Path, backup, **changes) -> None:
    """Change the manifest and sign it again with our own key, as a bug in this site might, for
    a test of the checks behind the signature."""
    path = backup_dir / files.manifest_name_for(backup.name)
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    manifest_sign(manifest)
    path.write_text(json.dumps(manifest))


def lose_manifest(backup_dir: Path, backup) -> None:
    """Delete the manifest beside `backup`'s dump, as a careless `rm` would."""
    (backup_dir / files.manifest_name_for(backup.name)).unlink()


def reseal(backup_dir: Path, backup) -> None:
    """Make the manifest match an edited dump, as a bug holding our signing key might."""
    dump = backup_dir / backup.name
    rewrite_manifest(
        backup_dir, backup, sha256=files.sha256_of(dump), size_bytes=dump.stat().st_size
    )


def flip_a_byte(backup_dir: Path, backup, *, mask: int) -> None:
    """XOR the middle byte of the dump with `mask` and reseal the manifest over the change, as
    someone holding our signing key (or a bug that does) might."""
    dump = backup_dir / backup.name
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= mask
    dump.write_bytes(bytes(data))
    reseal(backup_dir, backup)


def assert_restore_refused(name: str, error, match: str | None = None, **options) -> None:
    """Restoring the backup `name` raises `error` (matching `match`), and every signup is left
    exactly as it was just before."""
    before = signup_rows()

    with pytest.raises(error, match=match):
        backup_restore(name=name, **options)

    assert signup_rows() == before


def write_script(path: Path, body: str) -> Path:
    """An executable shell script standing in for a tool (e.g. a pg_dump that gets killed)."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def rows_in_dump(path: Path, table: str) -> int:
    """Count the rows of `table` in a plain SQL dump by reading the file itself."""
    text = path.read_text()
    if on_postgresql():
        match = re.search(
            rf"^COPY public\.{table} \(.*?\) FROM stdin;\n(.*?)^\\\.$", text, re.M | re.S
        )
        return 0 if match is None else match.group(1).count("\n")
    return len(re.findall(rf'^INSERT INTO "?{table}"? VALUES', text, re.M))


def psql(url: str, *args: str, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def lab(tmp_path, backup_dir):
    """The migration lab app installed with its 0001_initial applied (table lab_entry, empty);
    tests write the migrations that follow (see tests/migration_lab/lab.py)."""
    with lab_app(tmp_path / "lab") as lab:
        call_command("migrate", "migration_lab", "0001", verbosity=0)
        yield lab


@pytest.fixture
def signup_extra_column(lab, signups):
    """A lab migration adding a NOT NULL column to the signup table, applied through the guarded
    migrate (so a schema change with a backup of the three signups exists); the column is
    dropped again afterwards, whatever a rollback did. Yields that schema change."""
    lab.migration(
        "0002_signup_extra",
        'migrations.RunSQL("ALTER TABLE waitlist_responses ADD COLUMN extra varchar(10) '
        "NOT NULL DEFAULT ''\"),",
    )
    try:
        call_command("migrate", "migration_lab", verbosity=0, stdout=io.StringIO())
        change = SchemaChange.objects.latest("id")
        assert change.backup_name  # a change to a table with rows: backed up first
        yield change
    finally:
        with connection.cursor() as cursor:
            description = connection.introspection.get_table_description(
                cursor, "waitlist_responses"
            )
            if "extra" in {column.name for column in description}:
                cursor.execute("ALTER TABLE waitlist_responses DROP COLUMN extra")


def migrate(*args, **options) -> str:
    """`migrate` as a terminal runs it; what it printed (stdout and stderr together)."""
    out = io.StringIO()
    call_command("migrate", *args, stdout=out, stderr=out, **{"verbosity": 1, **options})
    return out.getvalue()


def migration_risk_json(*args: str) -> tuple[dict, bool]:
    """`migration_risk --json`: the document, and whether the command exited zero."""
    out = io.StringIO()
    try:
        call_command("migration_risk", *args, json=True, stdout=out)
    except CommandError:
        return json.loads(out.getvalue()), False
    return json.loads(out.getvalue()), True


def staff_with(django_user_model, *codenames):
    """A staff user holding just these permissions."""
    user = django_user_model.objects.create_user(
        "helper", password="x-long-pass-123", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def restore_url(backup) -> str:
    """The admin's Restore… page of `backup`."""
    return f"/admin/backups_app/backup/{backup.pk}/restore/"
