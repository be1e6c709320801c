PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: run the scripted scenario against the embedded backend (ends by itself)
demo: $(STAMP)
	$(BIN)/python -m gamify_client.demo

## test: ruff, mypy --strict and pytest
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples docs/_ext
	$(BIN)/ruff format --check src tests bench examples docs/_ext

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest -q

## bench: one `name: value` line per figure
bench: $(STAMP)
	$(BIN)/python -m bench

## docs: build the documentation site with --strict (`make test` runs the same build)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
