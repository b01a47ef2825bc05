# The README's commands. `make run` and `make test` need only Python 3.11+ on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs: `make run` needs the runtime dependencies only; tests, lint and benchmarks add the
# development ones (pytest, Playwright, mypy, ...) to the same .venv. One lock file pins both.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install run test bench lint clean

install: $(DEV_STAMP)

$(RUNTIME_STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	@touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/python -m config.run

# Tests run in four processes, each with its own test database and Redis database
# (tests/conftest.py): most of a test's time is spent waiting on servers, workers and the database,
# so four keep even two cores busy. PYTEST_PARALLEL= runs them in one process.
PYTEST_PARALLEL ?= -n 4

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy config channels_app orders inventory messaging catalog_sync manage.py
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
