# One task runner: CI calls `make test` verbatim (through .ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Every package comes from a hash-locked file (docs/supply-chain.md); the project itself has
# no hash to check, so it is installed on its own, without dependencies, and built with the
# locked setuptools rather than whatever the index serves at that moment.
INSTALL_SELF := $(PIP) install --no-deps --no-build-isolation -e .
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock'
# The build backend (pyproject.toml's build-system) is locked with the rest.
BUILD_REQUIRES := $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
# Accepted vulnerabilities, each with why and until when (docs/supply-chain.md), e.g.
# AUDIT_IGNORE += --ignore-vuln GHSA-xxxx-xxxx-xxxx  # urllib3 2.8: we never call X; until 2027-03
AUDIT_IGNORE :=

.PHONY: help run test lint format clean lock audit smoke-wheel schemathesis

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: $(VENV)/.runtime  ## Set up, migrate, load the demo data set and serve on 127.0.0.1:8000
	$(BIN)/atende-logs db upgrade
	$(BIN)/atende-logs demo
	$(BIN)/atende-logs serve

# The fault-injection tests (tests/faults/) run as a step of their own, after everything else:
# one of them stops the PostgreSQL the rest of the suite uses. Coverage adds up both steps.
test: $(VENV)/.dev  ## Set up and run the linters, the type checker, the audit, the tests and the wheel smoke
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(MAKE) --no-print-directory audit
	$(BIN)/pytest --ignore=tests/faults --ignore=$(SCHEMATHESIS_TEST) --cov --cov-report=
	$(MAKE) --no-print-directory schemathesis
	$(BIN)/pytest tests/faults --cov --cov-append --cov-report=term-missing:skip-covered --cov-fail-under=90
	$(MAKE) --no-print-directory smoke-wheel

# A few minutes: it serves each database and runs Schemathesis' own CLI against it.
SCHEMATHESIS_TEST := tests/http/test_schemathesis.py
schemathesis: $(VENV)/.dev  ## Run Schemathesis' CLI, every check and phase, against a real server on each database
	$(BIN)/pytest $(SCHEMATHESIS_TEST)

smoke-wheel: $(VENV)/.dev  ## Build the sdist and wheel, install the wheel in a fresh virtualenv, serve from it
	$(BIN)/python scripts/wheel_smoke.py

# A finding fails the build; a package the service could not look up is listed, and fails it
# too with AUDIT_STRICT=1 (docs/supply-chain.md says why that is not the default).
audit: $(VENV)/.dev  ## Check every locked package against PyPI's vulnerability records (pip-audit)
	$(BIN)/pip-audit --requirement requirements-dev.lock --require-hashes --disable-pip \
		--progress-spinner off $(if $(AUDIT_STRICT),--strict) $(AUDIT_IGNORE) $(AUDIT_ARGS)

# Installs the current lock first (for uv), so it works after pyproject.toml has changed.
lock: $(VENV)/.python  ## Re-resolve both lock files from pyproject.toml (ARGS=--upgrade moves every pin)
	$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	$(BUILD_REQUIRES) | $(LOCK) - pyproject.toml --extra dev -o requirements-dev.lock $(ARGS)
	$(BUILD_REQUIRES) | $(LOCK) - pyproject.toml -c requirements-dev.lock -o requirements.lock

format: $(VENV)/.dev  ## Fix what ruff can fix
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

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

# The lock installs with --no-deps (pip resolves nothing, it checks hashes); `pip check` then
# fails if the lock misses a dependency, or pyproject.toml asks for one it lacks: `make lock`.
$(VENV)/.runtime: $(VENV)/.python pyproject.toml requirements.lock
	$(PIP) install --require-hashes --no-deps -r requirements.lock
	$(INSTALL_SELF)
	$(PIP) check
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock
	$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	$(INSTALL_SELF)
	$(PIP) check
	touch $@
