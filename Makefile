# Two commands for a newcomer (see README.md):
#   make portfolio          train all four assignments, write runs/report.{md,html}  (QUICK=1: ~5 min;
#                           BUDGET=30: all four fitted into 30 minutes, each ending annealed)
#   make test               the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: portfolio test venv lint benchmarks

$(BIN)/portfolio: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(BIN)/portfolio

portfolio: venv
	$(BIN)/portfolio train all $(if $(QUICK),--quick) $(if $(BUDGET),--budget $(BUDGET))

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

benchmarks: venv
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
