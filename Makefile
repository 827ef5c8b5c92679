# meterstack: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := $(wildcard src tests bench examples tools)

.PHONY: run test fuzz lint fmt bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/meterstack plans list
	$(BIN)/meterstack serve --demo --payments local

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy $(CODE)
	$(BIN)/lint-imports --no-cache --no-logo

fmt: $(STAMP)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

test: lint
	$(BIN)/pytest -n 2 --dist loadgroup

# The full schemathesis run: 100 examples per operation, every check, SQLite and PostgreSQL
# (make test runs a bounded pass on SQLite).
fuzz: $(STAMP)
	METERSTACK_FUZZ=full $(BIN)/pytest tests/server/test_fuzz.py -k full -rP

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/billing.py
	$(BIN)/python bench/http.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/dunning.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
