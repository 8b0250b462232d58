# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := demo-output
# The toolkit's bytecode, as a non-editable `pip install` writes it: a command otherwise compiles its
# 60-odd modules from source at every start (75 ms) wherever PYTHONDONTWRITEBYTECODE is set. Stale
# files are never used (Python compares each with its source), so this is only ever a saving.
COMPILE := $(BIN)/python -m compileall -q toolkit

.PHONY: demo test lint typecheck bench bench-huge bench-batch bench-reminders soak samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(COMPILE)
	touch $(STAMP)

## demo: run the daily job and the report on a copy of the committed sample workbook (outputs in demo-output/)
demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	cp sample_workbooks/acme/receivables.xlsx sample_workbooks/acme/billing-manual.toml $(DEMO)/
	$(BIN)/receivables run $(DEMO)/receivables.xlsx --as-of 2026-11-20
	$(BIN)/receivables report $(DEMO)/receivables.xlsx --as-of 2026-11-20 --html $(DEMO)/report.html --csv $(DEMO)/customers.csv
	mkdir -p $(DEMO)/brasil && cp sample_workbooks/brasil/recebiveis.xlsx sample_workbooks/brasil/billing-manual.toml $(DEMO)/brasil/
	$(BIN)/receivables run $(DEMO)/brasil/recebiveis.xlsx --as-of 2026-11-20
	$(BIN)/receivables reconcile $(DEMO)/receivables.xlsx sample_workbooks/acme/bank-statement.ofx --as-of 2026-11-20 --csv $(DEMO)/reconcile.csv

## test: the full test suite (LibreOffice headless must be installed: see .ci/run)
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests bench
	$(BIN)/ruff format --check toolkit tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: time 'receivables run' against openpyxl's load+save at 10,000 and 100,000 rows (see BENCHMARKS.md);
## add rows with BENCH_ARGS, e.g. make bench BENCH_ARGS="--rows 1000000 --no-openpyxl-above 100000"
BENCH_ARGS ?=
bench: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/run_bench.py --rows 10000 --rows 100000 --repeat 3 $(BENCH_ARGS)

## bench-huge: the same at Excel's last row (1,048,572 invoices below the 4 header rows), time and memory, no openpyxl
bench-huge: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/run_bench.py --rows 1048572 --no-openpyxl-above 100000 $(BENCH_ARGS)

## bench-batch: 300 client workbooks of 2,000 rows in one 'receivables run FOLDER', --jobs 1 and --jobs 2
bench-batch: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/batch_bench.py $(BENCH_ARGS)

## bench-reminders: time the reminders preview (render, .eml files, summary) for 2,000 customers
bench-reminders: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/reminders_bench.py $(BENCH_ARGS)

## soak: a bounded fault soak (a few minutes): SIGKILL `run` and `run --send` at random against a server
## that drops and delays at random; counts damaged workbooks, lost saves, duplicates, missed reminders
soak: $(STAMP)
	$(BIN)/python bench/fault_soak.py $(BENCH_ARGS)

samples: $(STAMP)
	$(BIN)/python sample_workbooks/build_samples.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
