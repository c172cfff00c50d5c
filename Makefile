# Two commands matter: `make run` (the whole system, locally) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-fast lint bench install clean-data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

frontend/node_modules/.package-lock.json: frontend/package.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error

## The whole system on this machine: embedded Postgres, functions, relay, Realtime, page.
run: $(STAMP) frontend/node_modules/.package-lock.json
	$(PY) -m devstack

## Every test: unit, database, end to end, browser, deployment artifacts.
test: $(STAMP) frontend/node_modules/.package-lock.json
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

clean-data:
	rm -rf .devstack
