# The README's commands. `make run` and `make test` need only Python 3.11+ on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/python -m config.run

# Tests run in parallel, one process per core (at most 4), each with its own test database and Redis
# database (tests/conftest.py); PYTEST_PARALLEL= runs them in one process.
PYTEST_PARALLEL ?= -n auto --maxprocesses 4

test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HUB_DEV_WARNING_SHOWN=1 $(BIN)/mypy config channels_app orders inventory messaging catalog_sync manage.py
	HUB_DEV_WARNING_SHOWN=1 $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
