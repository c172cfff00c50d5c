# Two commands matter: `make run` (the whole system, locally) and `make test` (the whole suite).
# Each installs only what it needs, on first use: run the stack's packages, test and bench theirs
# (scripts/ensure_env.sh; uv when available, pip otherwise). A change to pyproject.toml
# re-installs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HASH   := $(shell cksum pyproject.toml | cut -d' ' -f1)
ENSURE := PYTHON=$(PYTHON) scripts/ensure_env.sh
RUN_STAMP   := $(VENV)/.installed-run-$(HASH)
TEST_STAMP  := $(VENV)/.installed-test-$(HASH)
BENCH_STAMP := $(VENV)/.installed-bench-$(HASH)
NODE_STAMP  := frontend/node_modules/.package-lock.json
PAGE_STAMP  := frontend/dist/.built
PAGE_SOURCES := $(filter-out frontend/eslint.config.js,$(wildcard frontend/*.html frontend/*.css \
                frontend/*.js frontend/modules/*.js)) \
                devstack/page_build.py

.PHONY: run test test-unit test-sql test-stack test-slow test-fast lint lint-js bench install page \
        clean-data

$(RUN_STAMP): pyproject.toml
	@$(ENSURE) devstack,client
	@rm -f $(VENV)/.installed-run-* && touch $@

$(TEST_STAMP): pyproject.toml
	@$(ENSURE) dev
	@rm -f $(VENV)/.installed-test-* $(VENV)/.installed-run-* && touch $@ $(RUN_STAMP)

$(BENCH_STAMP): pyproject.toml
	@$(ENSURE) bench
	@rm -f $(VENV)/.installed-bench-* && touch $@

install: $(TEST_STAMP)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	@echo "[setup] installing the page's packages: supabase-js, and ESLint for lint-js (npm ci in frontend/)"
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error

## The page as a static host serves it: frontend/dist/ (supabase-js and its licences inside).
page: $(PAGE_STAMP)

$(PAGE_STAMP): $(PAGE_SOURCES) $(NODE_STAMP)
	@echo "[setup] building the page into frontend/dist"
	@$(PYTHON) -m devstack.page_build >/dev/null
	@touch $@

# The Python install and the page's (npm ci, then the build) share nothing: on a first run they
# go side by side, which saves the npm ci's 3-7 s.
SETUP := $(MAKE) --no-print-directory -j2

.PHONY: setup-run setup-test
setup-run: $(RUN_STAMP) $(PAGE_STAMP)
	@:
setup-test: $(TEST_STAMP) $(PAGE_STAMP)
	@:

## The whole system on this machine: embedded Postgres, functions, relay, Realtime, page.
run:
	@$(SETUP) setup-run
	@$(PY) -m devstack

# Most tests wait on processes, sockets and Postgres rather than compute (three workers kept
# the two cores under half busy), so on two cores four pytest-xdist workers finish sooner than
# one. Each test file stays on one worker (its module fixtures start once); what workers share
# is locked or kept per worker (tests/conftest.py: exclusive, own_dir). TEST_WORKERS=0 runs in
# one process.
TEST_WORKERS ?= 4
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

## Every test, all four tiers (docs/testing.md): what CI runs.
test:
	@$(SETUP) setup-test
	$(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS)

## One tier: unit (no database; one process, where workers would cost more than they save),
## sql (one template database), stack (processes), slow (load, browser, full-size fuzz,
## packaging, hosted-like clusters, bench smoke).
test-unit:
	@$(SETUP) setup-test
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

TIER_TARGETS := test-sql test-stack test-slow
$(TIER_TARGETS): test-%:
	@$(SETUP) setup-test
	$(PY) -m pytest tests/$* $(PARALLEL) $(PYTEST_ARGS)

test-fast: test-unit

lint: $(TEST_STAMP) lint-js
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## The page's JavaScript: ESLint with frontend/eslint.config.js (npm ci installs it).
lint-js: $(NODE_STAMP)
	cd frontend && npx --no-install eslint .

bench: $(BENCH_STAMP)
	$(PY) -m bench

clean-data:
	rm -rf .devstack
