"""Fixtures for the benchmark tests: the scripts in benchmarks/ are imported as modules."""

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script from benchmarks/ as a module (its folder on the path for `results`)."""

    def load(name: str):
        with pytest.MonkeyPatch.context() as patch:
            patch.syspath_prepend(str(BENCHMARKS))
            return importlib.import_module(name)

    return load
