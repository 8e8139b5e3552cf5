# pension-abm: the README's commands. `make run` and `make test` set everything up first.
PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: setup lock lock-upgrade run test test-fast lint format bench docs docs-bench viz browser clean

# The packages at the lock's exact versions, each file checked against its hash, then the project
# itself (editable, adding nothing: its build backend, setuptools, is in the lock).
setup: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# requirements.lock: pyproject.toml's ranges (with the test extra) resolved to one version each, with
# hashes, for Python 3.12 on Linux x86_64, by the uv the lock itself pins. `make lock` keeps the
# versions pinned now wherever pyproject.toml still allows them; `make lock-upgrade` takes the newest.
LOCK_COMPILE = $(BIN)/uv pip compile --no-config pyproject.toml --extra test --generate-hashes \
	--python-version 3.12 --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
	--quiet -o $(LOCK)

lock: setup
	$(LOCK_COMPILE)

lock-upgrade: setup
	$(LOCK_COMPILE) --upgrade

run: setup
	$(BIN)/pension-abm run baseline

# The whole suite, as CI runs it, on every core (pytest-xdist): a test file runs on one worker, so its
# module fixtures are computed once; the files with the most slow tests start first (tests/conftest.py).
# test-fast, for the edit loop, leaves out the tests marked slow (more than about 3 s) and browser
# (Playwright and chromium).
test: setup lint browser
	$(BIN)/python -m pytest -n auto --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow and not browser"

viz: setup
	$(BIN)/pension-abm viz

# Chromium for the browser tests (Debian package; Playwright drives it, never downloads one).
browser:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "warning: chromium not installed (needs root); browser tests will be skipped"

# lint: the code as the formatter writes it, and the rule set of pyproject.toml; format: rewrite it so
lint: setup
	$(BIN)/ruff format --check abm tests bench docs
	$(BIN)/ruff check abm tests bench docs

format: setup
	$(BIN)/ruff format abm tests bench docs
	$(BIN)/ruff check --fix abm tests bench docs

bench: setup
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_viz.py

# The README's run-derived tables and docs/ figures, regenerated between their markers (docs/build.py).
# docs: the baseline and IRR tables and the baseline figure (seconds); docs-bench: also the shipped
# sweeps and searches, the scenario table, the benchmarks and the page's screenshot (minutes).
# DOCS_FLAGS=--sobol-1024 adds the N=1024 Sobol timing (several minutes more).
docs: setup
	$(BIN)/python docs/build.py $(DOCS_FLAGS)

docs-bench: setup browser
	$(BIN)/python docs/build.py --bench $(DOCS_FLAGS)

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
