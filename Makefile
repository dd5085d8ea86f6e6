# neuroq: `make demo` runs the pipeline, `make test` runs the tests.
# Both create .venv from nothing and install everything they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch pinned: an unpinned torch pulls several GB of CUDA packages on these machines.
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.neuroq-installed

.PHONY: demo test test-fast lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[train,ros,dev]" "$(TORCH_PIN)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neuroq demo

# pytest exits 5 when it collects no tests; that is a failure of the suite here, not a pass.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/bench_train.py

clean:
	rm -rf $(VENV) runs .pytest_cache
