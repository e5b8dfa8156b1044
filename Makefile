# Quick start: `make demo` trains on the embedded digits; `make test` runs the test suite.
# Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint

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

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
