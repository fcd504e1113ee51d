# Two entry points for a fresh machine: `make up` (run the system) and `make test` (run every test).
# Each does its own set-up: a virtual env with the pinned packages, and later the Debian packages tests need.
# `make test-fast` is the inner loop: the sandbox, unit and exchange-table tests, no system packages and no
# `slow` (process-starting) tests.
# `make lint` (ruff, and mypy over src/) is the gate CI runs before the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: up test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/cexlink up

test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not timing" tests/unit tests/sandbox tests/exchanges

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
