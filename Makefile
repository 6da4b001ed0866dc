# Two entry points for a fresh machine with Python 3.11 and pip:
#   make run   -> .venv, install, open the TUI on a generated demo archive
#   make test  -> .venv, install with test extras, lint + type gate, the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Byte-compiled once at install, as a wheel install would be: with
# PYTHONDONTWRITEBYTECODE set, an editable install otherwise recompiles
# every module at each start (cost: bench/RESULTS.md, start-up).
COMPILE := $(BIN)/python -m compileall -q irpa_core irpa_tui

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(COMPILE)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(COMPILE)
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/irpa-tui --demo

# The lint and type gate first (seconds), then the suite.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

screenshots: $(VENV)/.installed-test
	$(BIN)/python screenshots/make_screenshots.py

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
