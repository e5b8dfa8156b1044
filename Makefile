# Quick start: `make demo` trains on the embedded digits; `make test` runs the test suite.
# Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast lint device-check gpu-check

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m tfmodel.train
	$(PY) -m serving.demo runs/latest
	$(PY) -m edge.optimize runs/latest

test: $(VENV)/.installed
	$(PY) -m pytest -q

# The inner loop: the unit tests only (no end-to-end training, servers or subprocesses).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Needs root: runs the edge runtime in an arm64 Debian root under qemu on Pi 3/4/5 CPUs.
# SUITE=trixie for Python 3.13; ARGS=--fresh rebuilds the cached root.
device-check: $(VENV)/.installed
	bash device/check.sh $(ARGS)

# On a GPU machine: the GPU recipe end to end (train, serve, edge, GPU-vs-CPU weights) as a table.
# Without a GPU it says so and exits 0.
gpu-check: $(VENV)/.installed
	$(PY) hardware/gpu_check.py $(ARGS)
