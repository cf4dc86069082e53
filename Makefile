# One task runner: CI calls `make test` verbatim (through .ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: help run test lint format clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: $(VENV)/.runtime  ## Set up, migrate, load the demo data set and serve on 127.0.0.1:8000
	$(BIN)/atende-logs db upgrade
	$(BIN)/atende-logs demo
	$(BIN)/atende-logs serve

# The fault-injection tests (tests/faults/) run as a step of their own, after everything else:
# one of them stops the PostgreSQL the rest of the suite uses. Coverage adds up both steps.
test: $(VENV)/.dev  ## Set up and run the linters, the type checker and the whole test suite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest --ignore=tests/faults --cov --cov-report=
	$(BIN)/pytest tests/faults --cov --cov-append --cov-report=term-missing:skip-covered --cov-fail-under=90

format: $(VENV)/.dev  ## Fix what ruff can fix
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

.PHONY: bench
bench: $(VENV)/.dev  ## Run the benchmark suite: make bench ARGS="--db postgresql --quick"
	$(BIN)/python -m bench $(ARGS)

clean:  ## Remove the virtualenv and local caches (not your database)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "atende-logs needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.runtime: $(VENV)/.python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev]'
	touch $@
