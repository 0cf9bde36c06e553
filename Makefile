# The README's two commands: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test bench clean

# pip byte-compiles one file at a time (about 100 s of a 160 s install on 2 cores, 2026-11-27); compileall on every
# core took 45 s. A file a package ships that does not compile is skipped, as pip skips it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,imaging,cnn,app,pacs]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scintiml demo --out scintiml-demo --overwrite

# One worker per core (pytest-xdist, at most 4 to bound memory), each test file on one worker so that its module
# fixtures are built once, the longest files first (tests/conftest.py). 2-core machine, 2026-11-27: 12.5-13 min with 2
# workers (the machine's speed varies through the day); serially 29 min (beside other work).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ann.py
	$(BIN)/python benchmarks/bench_selection.py
	$(BIN)/python benchmarks/bench_study.py
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_pacs.py

clean:
	rm -rf $(VENV) scintiml-demo
