"""Fixtures for the benchmark tests: each benchmark is a module of the `benchmarks` package."""

import importlib

import pytest


@pytest.fixture(scope="session")
def load_benchmark():
    """Import `benchmarks.<name>`."""
    return lambda name: importlib.import_module(f"benchmarks.{name}")
