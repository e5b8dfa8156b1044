"""File sizes on the reference MLP with 784 inputs (784-128-10), where weights dominate the file."""

from __future__ import annotations

import copy
import gzip

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge.convert import calibration_examples, convert_model  # noqa: E402
from edge.prune import prune_model  # noqa: E402
from tfmodel.config import ModelConfig, RegularizerConfig  # noqa: E402
from tfmodel.data import Splits  # noqa: E402
from tfmodel.models import build_model  # noqa: E402


@pytest.fixture(scope="module")
def mlp_784(digits_config):
    """An untrained 784-128-10 MLP and random 28×28 "images": sizes do not depend on the data."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(320, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=320).astype(np.int64)
    splits = Splits(x, y, x[:0], y[:0], x[:64], y[:64], [str(i) for i in range(10)], 255.0)
    model = build_model(
        ModelConfig(hidden_units=[128]), RegularizerConfig(kind="none"), (28, 28, 1), 10, 255.0
    )
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    config = copy.deepcopy(digits_config)
    config.edge.prune_epochs = 2
    return model, splits, config


@pytest.mark.slow
def test_int8_and_pruned_int8_are_small(mlp_784):
    model, splits, config = mlp_784
    calibration = calibration_examples(splits.x_train, count=64)
    float32 = convert_model(model, "pixels", "float32")
    int8 = convert_model(model, "pixels", "int8", calibration)
    pruned = prune_model(model, splits, config)
    assert pruned.sparsity >= 0.78
    pruned_int8 = convert_model(pruned.model, "pixels", "int8", calibration)

    assert len(int8) <= 0.30 * len(float32)
    assert len(gzip.compress(pruned_int8, 9)) <= 0.15 * len(gzip.compress(float32, 9))
