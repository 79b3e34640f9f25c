# Two commands for a newcomer (see README.md):
#   make portfolio          train all four assignments, write runs/report.{md,html}  (QUICK=1: 2-6 min;
#                           BUDGET=30: all four fitted into 30 minutes, each ending annealed)
#   make test               the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: portfolio test venv lint benchmarks constraints

# constraints.txt: the versions the test suite passed with, so that a fresh clone resolves the same
# way (pyproject.toml keeps the ranges the code supports). After changing a dependency, run the
# tests, then `make constraints`.
$(BIN)/portfolio: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c constraints.txt
	touch $@

venv: $(BIN)/portfolio

portfolio: venv
	$(BIN)/portfolio train all $(if $(QUICK),--quick) $(if $(BUDGET),--budget $(BUDGET))

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

constraints: venv
	( echo "# pip freeze of the venv the test suite passed in (make constraints); used by make venv"; \
	  $(BIN)/python -m pip list --format=freeze --exclude-editable | grep -vE '^(pip|setuptools)==' \
	) > constraints.txt

benchmarks: venv
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
