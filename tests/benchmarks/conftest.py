"""Fixtures for the benchmark tests: each benchmark's smoke-size result, run once per session."""

import importlib

import pytest


class SmokeRuns(dict):
    """Each benchmark's `run("smoke")`, run when first asked for, so each test's timeout covers
    the benchmarks it runs, not all of them."""

    def __missing__(self, name: str):
        self[name] = importlib.import_module(f"benchmarks.{name}").run("smoke")
        return self[name]


@pytest.fixture(scope="session")
def smoke() -> SmokeRuns:
    return SmokeRuns()
