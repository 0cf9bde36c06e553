# The README's two commands: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev,imaging,cnn,app,pacs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scintiml demo --out scintiml-demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ann.py
	$(BIN)/python benchmarks/bench_selection.py
	$(BIN)/python benchmarks/bench_study.py
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_pacs.py

clean:
	rm -rf $(VENV) scintiml-demo
