"""`make run` writes a development .env once, so the README's commands work in a fresh clone."""

import shutil
import subprocess
import sys

import pytest

from tests.subprocesses import PROJECT_DIR, child_environment, run_manage


@pytest.fixture
def made_env(tmp_path):
    """The Makefile's `.env` target run in a folder of its own, as in a fresh clone."""
    shutil.copy(PROJECT_DIR / "Makefile", tmp_path / "Makefile")

    def make() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "--no-print-directory", ".env", f"PYTHON={sys.executable}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    return tmp_path / ".env", make


def test_make_writes_a_private_development_env_with_a_new_key_and_says_so(made_env):
    path, make = made_env

    result = make()

    assert "Wrote .env for development" in result.stdout
    lines = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if not line.startswith("#")
    )
    assert lines["DJANGO_DEBUG"] == "1"
    assert len(lines["DJANGO_SECRET_KEY"]) >= 50
    assert "insecure" not in lines["DJANGO_SECRET_KEY"]
    assert path.stat().st_mode & 0o077 == 0, "the secret key is readable by other users"


def test_an_existing_env_is_never_overwritten(made_env):
    path, make = made_env
    path.write_text("DJANGO_SECRET_KEY=mine\n")

    result = make()

    assert path.read_text() == "DJANGO_SECRET_KEY=mine\n"
    assert "Wrote" not in result.stdout


def test_commands_run_with_only_the_written_env(made_env, tmp_path):
    path, make = made_env
    make()
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"

    without = run_manage("check", DATABASE_URL=database)
    with_env = run_manage("check", DATABASE_URL=database, DJANGO_ENV_FILE=str(path))

    # A fresh clone without .env: the README's commands stop; with make run's .env they work.
    assert without.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in without.stderr
    assert with_env.returncode == 0, with_env.stderr
    assert "no issues" in with_env.stdout


def test_the_environment_wins_over_the_env_file(made_env, tmp_path):
    path, make = made_env
    make()
    code = "from django.conf import settings; print(settings.DEBUG)"

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=PROJECT_DIR,
        env=child_environment(
            DJANGO_ENV_FILE=str(path),
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="from-the-environment-" + "x" * 40,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "False", result.stderr
