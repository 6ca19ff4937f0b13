# Mahnwerk: two commands on a fresh machine (README.md).
#   make demo   virtualenv, install, migrate, demo marketplace, web server on 127.0.0.1:8000
#   make test   the whole test suite (DATABASE_URL=postgres://... runs it on PostgreSQL),
#               one worker per core

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

LOCK := requirements/dev.txt

.PHONY: demo test install lock lock-check audit lint messages bench clean

# Installs exactly the pinned, hash-checked packages of the lock (requirements/dev.txt: runtime
# plus the dev extra), then Mahnwerk itself without touching them. A changed lock or pyproject
# reinstalls. `make lock` refreshes the lock from pyproject.toml (docs/operations.md, "Installing").
$(BIN)/mahnwerk: $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

install: $(BIN)/mahnwerk

# Re-resolve requirements/base.txt and dev.txt from pyproject.toml, keeping the pins that still
# fit; `make lock UPGRADE=1` takes the newest releases pyproject allows.
lock: install
	$(BIN)/python scripts/lock.py compile $(if $(UPGRADE),--upgrade)

# Fails when pyproject.toml's dependencies are not those the lock was compiled from (standard
# library only: runs before the install).
lock-check:
	$(PYTHON) scripts/lock.py check

# Known vulnerabilities in the locked packages (pip-audit); skipped with a message where no
# vulnerability database can be reached.
audit: install
	$(BIN)/python scripts/audit.py $(LOCK)

# The links in the demo's mail (offer and approval links) point at HOST, and the server answers
# on it (settings.DEMO_HOST); a MAHNWERK_SITE_URL of the environment or .env wins.
demo: install
	$(BIN)/mahnwerk migrate --no-input -v0
	MAHNWERK_DEMO_HOST=$(HOST) $(BIN)/mahnwerk demo-data
	@echo ""
	@echo "Mahnwerk läuft auf http://$(HOST)/  (Anmeldung: support / demo, siehe oben)"
	@echo "Stop with Ctrl+C."
	MAHNWERK_DEMO_HOST=$(HOST) $(BIN)/mahnwerk runserver --insecure $(HOST)

# One pytest worker per core (pytest-xdist; each with its own test database and var/ folder);
# PYTEST_WORKERS=0 runs the suite in this one process.
PYTEST_WORKERS ?= auto

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

lint: install
	$(BIN)/ruff check src tests bench scripts

messages: install
	PATH=$(BIN):$$PATH $(BIN)/python scripts/i18n.py extract
	$(BIN)/python scripts/i18n.py compile

bench: install
	$(BIN)/python bench/import_benchmark.py

clean:
	rm -rf $(VENV) var bench/out .pytest_cache
