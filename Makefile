# pension-abm: the README's commands. `make run` and `make test` set everything up first.
PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

run: setup
	$(BIN)/pension-abm run scenarios/baseline.yaml

test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check abm tests bench

bench: setup
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_sweep.py

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
