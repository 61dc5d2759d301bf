# waitlist-site: `make run` starts the site, `make test` runs the whole suite on SQLite and PostgreSQL.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/waitlist

.PHONY: run test test-sqlite test-postgresql lint format superuser clean bench loadtest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

# A development .env on the first run: development mode and a generated secret key, so every
# `manage.py` command of the README works in the same shell. Made only when there is none: one you
# wrote (or an earlier run wrote) is never overwritten.
.env:
	@umask 077 && { \
	  echo "# Development settings, written by make run on $$(date -u +%Y-%m-%d). Not for production:"; \
	  echo "# there, set DJANGO_DEBUG=0 and a secret key of your own (see docs/settings.md)."; \
	  echo "DJANGO_DEBUG=1"; \
	  echo "DJANGO_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	} > $@.tmp && mv $@.tmp $@
	@echo "  Wrote $@ for development (DJANGO_DEBUG=1 and a new secret key); it is never overwritten."

# The site on SQLite in development mode (DJANGO_DEBUG=1 unless you set it), with the backup
# worker beside it so every signup lands in an automatic backup without cron.
run: export DJANGO_DEBUG ?= 1
run: .env $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "  waitlist-site is starting at http://$(HOST):$(PORT)/"
	@echo "  Admin: http://$(HOST):$(PORT)/admin/   Health: http://$(HOST):$(PORT)/health/"
	@echo "  No admin login yet? In another terminal run: make superuser"
	@echo "  The backup worker runs alongside; backups go to $${BACKUP_DIR:-backups/}."
	@echo "  Stop both with Ctrl-C."
	@echo
	@$(BIN)/python manage.py backup_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

superuser: .env $(VENV)/.runtime-installed
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py createsuperuser

# Lint, then the whole suite twice: on SQLite and on PostgreSQL ($(TEST_DATABASE_URL)).
test: lint test-sqlite test-postgresql

test-sqlite: $(VENV)/.dev-installed
	env -u DATABASE_URL EXPECT_DATABASE_VENDOR=sqlite $(BIN)/pytest

test-postgresql: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) EXPECT_DATABASE_VENDOR=postgresql $(BIN)/pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache

# §10 performance figures, as ratios against the raw tools measured in the same run.
bench: $(VENV)/.dev-installed
	$(BIN)/python bench/run.py

# Signups through gunicorn with the backup worker and a full restore in the middle, on SQLite
# and PostgreSQL (LOADTEST_DATABASES=sqlite for one); fails if an accepted signup is lost.
loadtest: $(VENV)/.runtime-installed
	$(BIN)/python bench/loadtest.py
