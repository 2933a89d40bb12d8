# oms-chain: the two commands a new user needs are `make demo` and `make test`.
# Everything they depend on (Python venv, node toolchain, contract build, PostgreSQL server
# binaries for the scale-backend tests, Debian chromium for the browser test) is installed by
# the targets below.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup contracts postgres chromium demo test lint typecheck layers pytest forge compat bench clean

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

## chromium: Debian's chromium for the dashboard's headless browser test (Playwright drives it
## with executable_path=/usr/bin/chromium; `playwright install` is never run). Needs root.
chromium:
	@bash scripts/install-chromium.sh

## demo: start the local devnet and run the main job end to end.
demo: setup
	$(VENV)/bin/oms demo

## test: lint, format check, types, layering contracts, pytest, forge.
test: setup postgres chromium lint typecheck layers pytest forge

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

## compat: oms-chain beside eth-ape 0.8 (eth-ape installed too), in its own venv, on the suites
## that touch web3. constraints-ape08.txt is what pip resolves for them today (web3 7.16,
## eth-account 0.13.7, eth-abi 5.2, eth-utils 5.3, hexbytes 1.3, numpy 1.26, pytest 8.4).
## Brownie 1.22.2 resolves to the same web3 / eth-account / eth-abi / eth-utils / hexbytes
## (constraints-brownie122.txt) with numpy 2 and pytest 9, which `make test` covers; one venv on
## the older set saves CI a second install. Refresh both with scripts/resolve_compat.py. Ape's
## pytest plugin is disabled (-p no:ape_test); tests/conftest.py refuses to run if it or
## brownie's is loaded.
COMPAT_VENV := .venv-ape08
COMPAT_SUITES := tests/integration/devnet tests/integration/chain tests/unit/chain \
	tests/integration/amm tests/unit/amm tests/unit/model tests/unit/engine tests/integration/scripts
compat: node_modules/.installed contracts
	@test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints-ape08.txt -e '.[dev]' 'eth-ape==0.8.*'
	$(COMPAT_VENV)/bin/python -m pip check
	$(COMPAT_VENV)/bin/pytest -q -p no:cacheprovider -p no:ape_test \
		$(COMPAT_SUITES)

## bench: performance benchmarks; results in bench/results/*.json and a table.
bench: setup postgres
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
