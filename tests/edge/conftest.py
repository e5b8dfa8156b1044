"""Shared fixtures for the edge tests: one digits model trained and optimized per session
(the recipe and its splits, `digits_config` and `digits_splits`, are in tests/conftest.py).

The runtime tests need only the `edge_dir` fixture: a folder written by `edge.optimize` (models,
model.json, samples.npz). Set TFMODEL_EDGE_DIR to such a folder to run them where TensorFlow is
not installed (a Raspberry Pi, the device check); everything else here needs TensorFlow and is
imported only when a test asks for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

EDGE_DIR_ENV = "TFMODEL_EDGE_DIR"


@pytest.fixture(scope="session")
def digits_model(digits_config, digits_splits):
    """The reference digits MLP trained by the recipe (a few seconds; no run folder needed)."""
    from edge.finetune import finetune
    from tfmodel.models import build_model

    splits, config = digits_splits, digits_config
    model = build_model(
        config.model, config.regularizer, splits.input_shape, splits.num_classes, splits.pixel_max
    )
    return finetune(model, splits, config, config.training.epochs)


@pytest.fixture(scope="session")
def digits_edge(digits_model, digits_splits, digits_config, tmp_path_factory):
    """`edge.optimize` run once on the digits model: every default variant, the report."""
    from edge.optimize import optimize

    out_dir = tmp_path_factory.mktemp("digits") / "edge"
    return optimize(digits_model, digits_splits, digits_config, out_dir)


@pytest.fixture(scope="session")
def edge_dir(request) -> Path:
    """A folder written by edge.optimize: TFMODEL_EDGE_DIR if set, else the session's own."""
    if os.environ.get(EDGE_DIR_ENV):
        path = Path(os.environ[EDGE_DIR_ENV])
        assert (path / "model.json").is_file(), f"{EDGE_DIR_ENV}={path} has no model.json"
        return path
    return request.getfixturevalue("digits_edge").out_dir
