# The two commands a newcomer runs: `make demo`, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
SETUP_LOG := $(VENV)/setup.log
DEMO_SCALE ?= 0.02
DEMO_RAW := warehouse/demo-raw
DEMO_DB := warehouse/kequn.duckdb
export DO_NOT_TRACK := 1

.PHONY: setup demo test lint unit e2e clean

# Idempotent and silent when there is nothing to do: reinstalls only when requirements.txt
# or pyproject.toml change (~1 min once). requirements.txt includes duckdb-cli (the DuckDB
# 1.5 CLI as .venv/bin/duckdb; it has no Python dependencies, so it cannot replace the
# duckdb 2.0.1 module): `pip check` proves the pins still agree.
setup: $(STAMP)
setup: setup-pages
setup: setup-engines

$(STAMP): requirements.txt pyproject.toml
	@echo "setting up $(VENV) from requirements.txt (about a minute, once; log in $(SETUP_LOG))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@( $(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
	  && $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
	  && $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . \
	  && $(BIN)/python -m pip check --disable-pip-version-check ) > $(SETUP_LOG) 2>&1 \
	  || { cat $(SETUP_LOG); echo "make setup failed (log above, also in $(SETUP_LOG))"; exit 1; }
	@touch $(STAMP)

# The report pages (kequn report, kequn docs, tests/python/test_report_pages.py): Debian's
# chromium and a CJK font from apt, only when missing; the Data Docs' CSS/JS and
# playwright-core from npm (package-lock.json) into node_modules/, only when the lock changed.
.PHONY: setup-pages
setup-pages: node_modules/.package-lock.json
	@missing=""; test -x /usr/bin/chromium || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then echo "installing$$missing from Debian (once; log in $(VENV)/apt.log)"; \
		mkdir -p $(VENV); { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing; } \
		> $(VENV)/apt.log 2>&1 || { cat $(VENV)/apt.log; exit 1; }; fi
node_modules/.package-lock.json: package.json package-lock.json
	@npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --silent

# The other engines (issue 10): Java 17 for the local Spark session and the PostgreSQL server
# for the private test cluster (kequn/engines/postgres.py), from Debian, only when missing.
.PHONY: setup-engines
setup-engines:
	@missing=""; dpkg -s openjdk-17-jre-headless >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then echo "installing$$missing from Debian (once; log in $(VENV)/apt-engines.log)"; \
		mkdir -p $(VENV); { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing; } \
		> $(VENV)/apt-engines.log 2>&1 || { cat $(VENV)/apt-engines.log; exit 1; }; fi

# Generate a small extract, build the warehouse from it through every gate (a fresh build,
# so the demo is the same every time), summarise it. Ends with the warehouse and report paths.
demo: setup
	@rm -rf $(DEMO_RAW) $(DEMO_RAW).truth
	@echo "== kequn generate --scale $(DEMO_SCALE) --out $(DEMO_RAW)"
	@$(BIN)/kequn generate --scale $(DEMO_SCALE) --out $(DEMO_RAW) --no-progress
	@echo "== kequn build --raw-dir $(DEMO_RAW) --db $(DEMO_DB) --full-refresh"
	@$(BIN)/kequn build --raw-dir $(DEMO_RAW) --db $(DEMO_DB) --full-refresh
	@echo "== kequn summary --db $(DEMO_DB)"
	@$(BIN)/kequn summary --db $(DEMO_DB)
	@$(BIN)/kequn docs --db $(DEMO_DB)

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
