# Two commands on a fresh machine:  make demo   and   make test
.PHONY: setup demo test test-fast lint bench clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	@bash tools/setup_venv.sh

demo: setup
	$(VENV)/bin/hf-quicktune demo

test: setup
	$(PY) -m pytest -q --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check hf_quicktune tests benchmarks space tools

clean:
	rm -rf $(VENV) quicktune-demo .pytest_cache
