# Two commands for a fresh machine: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-sqlite test-postgres bench install install-test browser clean-venv tryton

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[tryton]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

browser:
	@scripts/ensure-chromium.sh

run: install
	$(PY) -m integration_hub.envfile .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py serve --demo --addr 127.0.0.1:8000

# The demo's Tryton server alone, in the foreground (make run starts it by itself).
tryton: install
	$(PY) -m integration_hub.envfile .env
	$(PY) manage.py tryton

# The whole suite on SQLite, then again on PostgreSQL when it answers on 127.0.0.1:5432.
test: install-test browser
	@scripts/run-tests.sh

test-sqlite: install-test
	@HUB_TEST_DATABASES=sqlite scripts/run-tests.sh

test-postgres: install-test
	@HUB_TEST_DATABASES=postgresql scripts/run-tests.sh

bench: install-test
	@set -e; for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b; done

clean-venv:
	rm -rf $(VENV)
