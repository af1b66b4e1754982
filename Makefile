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

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Generate a small extract, build the warehouse from it through every gate, summarise it.
demo: setup
	rm -rf $(DEMO_RAW) $(DEMO_RAW).truth
	$(BIN)/kequn generate --scale $(DEMO_SCALE) --out $(DEMO_RAW)
	$(BIN)/kequn build --raw-dir $(DEMO_RAW) --db warehouse/kequn.duckdb
	$(BIN)/kequn summary --db warehouse/kequn.duckdb

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
