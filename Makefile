# oms-chain: the two commands a new user needs are `make demo` and `make test`.
# Everything they depend on (Python venv, node toolchain, contract build, PostgreSQL server
# binaries for the scale-backend tests) is installed by the targets below.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup contracts postgres demo test lint typecheck layers pytest forge compat bench clean

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

## compat: the oldest stack we promise to work with (web3 7, eth-account 0.13, numpy 1.26 --
## what eth-ape 0.8 and eth-brownie 1.22 need), in its own venv, on the suites that touch web3.
COMPAT_VENV := .venv-web3v7
compat: node_modules/.installed contracts
	@test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-web3v7.txt -e '.[dev]'
	$(COMPAT_VENV)/bin/pytest -q -p no:cacheprovider tests/integration/devnet tests/integration/chain \
		tests/unit/chain tests/integration/amm tests/unit/model tests/unit/engine tests/integration/scripts

## bench: performance benchmarks; results in bench/results/*.json and a table.
bench: setup postgres
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
