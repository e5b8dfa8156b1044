# Quick start: `make demo` trains on the embedded digits; `make test` runs the test suite.
# Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast lint device-check gpu-check metadata-venv mediapipe-venv web

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

# Helper venvs of their own (each pins numpy or protobuf against the main venv's):
# tflite-support writes the metadata inside .tflite files (edge/write_metadata.py runs in it);
# mediapipe checks that MediaPipe Tasks classifies with the file alone (tests/edge).
METADATA_VENV := .venv-metadata
MEDIAPIPE_VENV := .venv-mediapipe

$(METADATA_VENV)/.installed:
	-dpkg -s libusb-1.0-0 >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libusb-1.0-0)
	python3 -m venv $(METADATA_VENV)
	$(METADATA_VENV)/bin/pip install -q tflite-support==0.4.4 'numpy<2'
	touch $@

$(MEDIAPIPE_VENV)/.installed:
	python3 -m venv $(MEDIAPIPE_VENV)
	$(MEDIAPIPE_VENV)/bin/pip install -q mediapipe==1.2.2
	touch $@

metadata-venv: $(METADATA_VENV)/.installed
mediapipe-venv: $(MEDIAPIPE_VENV)/.installed

# The edge page (edge/web) and its headless-browser test: node and npm, Debian's chromium (apt, as
# root; without them the test skips and says why), then the page's npm packages from package-lock.json.
WEB := edge/web

$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	-(command -v node && command -v npm) >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	-test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

web: $(WEB)/node_modules/.installed

demo: $(VENV)/.installed
	-$(MAKE) -s metadata-venv  # optional: without it the files carry no metadata
	$(PY) -m tfmodel.train
	$(PY) -m serving.demo runs/latest
	$(PY) -m edge.optimize runs/latest

# Both cores (pytest-xdist): much of the suite waits on subprocesses, servers and browsers, so a
# second worker fills the gaps; each file stays on one worker, so its module fixtures run once.
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile

test: $(VENV)/.installed $(METADATA_VENV)/.installed $(MEDIAPIPE_VENV)/.installed $(WEB)/node_modules/.installed
	$(PY) -m pytest -q --durations=25 $(PYTEST_PARALLEL)

# The inner loop: the unit tests only (no end-to-end training, servers or subprocesses).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow" $(PYTEST_PARALLEL)

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
