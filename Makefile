# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[test,viz]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/epsim run configs/two_needles_liver.yaml -o results/demo.h5 --overwrite --render

# Two workers, one test file each at a time (module fixtures are built once per file).
# Everything runs, `slow` end-to-end tests included (skip them locally with `-m "not slow"`).
# A worker that dies fails the run at once, naming its test; if that is the only failure, the
# tests that did not finish run once more (scripts/run_tests.py, docs/design.md section 7).
# The 15 slowest are listed at the end.
test: $(STAMP)
	$(BIN)/python scripts/run_tests.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_solver.py

clean:
	rm -rf $(VENV) results .pytest_cache
