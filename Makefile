# oms-chain: the two commands a new user needs are `make demo` and `make test`.
# Everything they depend on (Python venv, node toolchain, contract build, PostgreSQL server
# binaries for the scale-backend tests) is installed by the targets below.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup contracts postgres demo test lint typecheck layers pytest forge bench clean

## setup: Python venv (package editable + dev extras, pinned by constraints.txt), npm toolchain
## and protocol artifacts, our contract build. Idempotent; quick when already done.
setup: $(VENV)/.installed node_modules/.installed contracts

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

contracts: $(VENV)/.installed node_modules/.installed
	@$(PY) -m oms_chain.devnet.solidity

## postgres: PostgreSQL server binaries for the store tests (Debian package; needs root).
postgres:
	@bash scripts/install-postgres.sh

## demo: start the local devnet and run the main job end to end.
demo: setup
	$(VENV)/bin/oms demo

## test: lint, format check, types, layering contracts, pytest, forge.
test: setup postgres lint typecheck layers pytest forge

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

layers:
	$(VENV)/bin/lint-imports

pytest:
	$(VENV)/bin/pytest -q

forge:
	$(FORGE) test --root . -q

## bench: performance benchmarks; results in bench/results/*.json and a table.
bench: setup postgres
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
