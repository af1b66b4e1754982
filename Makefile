# The two commands a newcomer runs: `make demo`, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
DEMO_SCALE ?= 0.02
DEMO_RAW := warehouse/demo-raw
export DO_NOT_TRACK := 1

.PHONY: setup demo test lint unit e2e clean

# Idempotent: reinstalls only when requirements.txt or pyproject.toml change (~1 min once,
# well under a second after that).
setup: $(STAMP)
setup: setup-pages

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The report pages (kequn report, kequn docs, tests/python/test_report_pages.py): Debian's
# chromium and a CJK font from apt, only when missing; the Data Docs' CSS/JS and
# playwright-core from npm (package-lock.json) into node_modules/, only when the lock changed.
.PHONY: setup-pages
setup-pages: node_modules/.package-lock.json
	@missing=""; test -x /usr/bin/chromium || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing; fi
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# Generate a small extract, build the warehouse from it through every gate, summarise it.
demo: setup
	rm -rf $(DEMO_RAW) $(DEMO_RAW).truth
	$(BIN)/kequn generate --scale $(DEMO_SCALE) --out $(DEMO_RAW)
	$(BIN)/kequn build --raw-dir $(DEMO_RAW) --db warehouse/kequn.duckdb
	$(BIN)/kequn summary --db warehouse/kequn.duckdb
	$(BIN)/kequn docs --db warehouse/kequn.duckdb

# sqlfluff's dbt templater opens the profile's DuckDB file: give it its own, so linting
# never waits on (or locks) the published warehouse.
lint: setup
	$(BIN)/ruff check kequn tests benchmarks
	mkdir -p warehouse/lint
	KEQUN_DB=warehouse/lint/lint.duckdb KEQUN_TEMP_DIR=warehouse/lint/tmp DBT_TARGET_PATH=warehouse/lint/target \
		$(BIN)/sqlfluff lint models macros tests analyses --processes 2

# Every test: linters, then pytest (which runs dbt's unit, data and contract tests on
# real builds of a hand-written fixture and a generated extract).
test: setup lint
	$(BIN)/pytest

clean:
	rm -rf warehouse target logs
