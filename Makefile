# Two entry points for a fresh machine with Python 3.11+ and pip:
#   make run   -> .venv, install, open the TUI on a generated demo archive
#   make test  -> .venv, install with test extras, lint + type gate, the whole suite
# Both install exactly the versions in requirements.lock (the set the suite
# passed with). `make lock` refreshes it on purpose; `make test-latest` runs
# the same gate and suite on the newest releases, in .venv-latest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
# --no-build-isolation: the locked setuptools in the venv builds the package,
# not whatever setuptools is newest that day.
INSTALL := python -m pip install --quiet --constraint $(LOCK) --no-build-isolation

.PHONY: run test test-latest lock screenshots bench clean

$(VENV)/.base: $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(INSTALL) pip setuptools
	touch $@

# Byte-compiled once at install, as a wheel install would be: with
# PYTHONDONTWRITEBYTECODE set, an editable install otherwise recompiles
# every module at each start (cost: bench/RESULTS.md, start-up). The
# compiled kernels' machine code too (numba, about 6 s): each process would
# compile it on first use otherwise, until one had written its file.
COMPILE = $(1)/python -m compileall -q irpa_core irpa_tui && $(1)/python -c "from irpa_core.stats import native; native.load()"

$(VENV)/.installed: pyproject.toml $(VENV)/.base
	$(BIN)/$(INSTALL) -e .
	$(call COMPILE,$(BIN))
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.base
	$(BIN)/$(INSTALL) -e '.[test]'
	$(call COMPILE,$(BIN))
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/irpa-tui --demo

# The lint and type gate first (seconds), then the suite: every test over
# the cores (pytest-xdist; worksteal evens out the long TUI tests), then the
# few marked `alone` (they measure throughput: a neighbour would skew them).
# PYTHONDONTWRITEBYTECODE off for pytest, so the test modules it rewrites
# are cached between runs. The 25 slowest tests are listed: keep an eye on them.
PYTEST = PYTHONDONTWRITEBYTECODE= $(1)/python -m pytest -q
# One worker more than cores: a TUI test spends part of its time waiting for
# the app to go idle, and the extra worker fills those gaps (2 cores: 2:51
# with two workers, 2:32-2:35 with three, 2:42 with four).
WORKERS := $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")
define SUITE
	$(1)/ruff check .
	$(1)/ruff format --check .
	$(1)/mypy
	$(call PYTEST,$(1)) -n $(WORKERS) --dist worksteal -m 'not alone' --durations=25
	$(call PYTEST,$(1)) -m alone
endef

test: $(VENV)/.installed-test
	$(call SUITE,$(BIN))

# The newest release of every dependency the ranges in pyproject.toml allow:
# drift shows here before users see it. Green: `make lock` takes it in.
LATEST := .venv-latest
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip setuptools
	$(LATEST)/bin/python -m pip install --quiet --upgrade --no-build-isolation -e '.[test]'
	$(call COMPILE,$(LATEST)/bin)
	$(LATEST)/bin/python -m pip list
	$(call SUITE,$(LATEST)/bin)

# Every dependency, direct and transitive, pinned for every platform (uv's
# universal resolution), with pip, setuptools and uv itself. Run it to take
# in new releases (after `make test-latest` passed) or after changing the
# dependencies in pyproject.toml, then `make test` and commit the lock.
lock: $(VENV)/.base
	$(BIN)/$(INSTALL) uv
	printf 'pip\nsetuptools>=77\nuv\n' | $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
		--extra test --custom-compile-command 'make lock' -o $(LOCK) pyproject.toml -

screenshots: $(VENV)/.installed-test
	$(BIN)/python screenshots/make_screenshots.py

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info
