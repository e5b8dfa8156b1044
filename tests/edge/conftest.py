"""Shared fixtures for the edge tests: one digits model trained and optimized per session
(the recipe and its splits, `digits_config` and `digits_splits`, are in tests/conftest.py).

`colours_edge` is the image model with TFLite metadata that MediaPipe and the browser page read.
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
    from edge.finetune import fine_tune_data, finetune
    from tfmodel.models import build_model

    splits, config = digits_splits, digits_config
    model = build_model(
        config.model, config.regularizer, splits.input_shape, splits.num_classes, splits.pixel_max
    )
    return finetune(model, fine_tune_data(splits, config), config, config.training.epochs)


@pytest.fixture(scope="session")
def digits_edge(digits_model, digits_splits, digits_config, tmp_path_factory):
    """`edge.optimize` run once on the digits model: every default variant, the report."""
    from edge.optimize import optimize
    from tfmodel.brought.door import describe_trained_model

    out_dir = tmp_path_factory.mktemp("digits") / "edge"
    model = describe_trained_model(digits_model, digits_config, digits_splits.class_names)
    return optimize(model, digits_splits, out_dir)


@pytest.fixture(scope="session")
def edge_dir(request) -> Path:
    """A folder written by edge.optimize: TFMODEL_EDGE_DIR if set, else the session's own."""
    if os.environ.get(EDGE_DIR_ENV):
        path = Path(os.environ[EDGE_DIR_ENV])
        assert (path / "model.json").is_file(), f"{EDGE_DIR_ENV}={path} has no model.json"
        return path
    return request.getfixturevalue("digits_edge").out_dir


@pytest.fixture(scope="session")
def colours_edge(digits_config, tmp_path_factory):
    """`edge.optimize` (float32, int8 with metadata) on the CNN trained 6 epochs on 32×32 colour
    images (a MobileNetV2 this briefly trained answers one class for everything: its batch-norm
    averages move slowly): (edge folder, splits, Keras model)."""
    import copy

    from colours import COLOURS, colour_images

    from edge import metadata
    from edge.finetune import fine_tune_data, finetune
    from edge.optimize import optimize
    from tfmodel.backend import keras
    from tfmodel.brought.door import describe_trained_model
    from tfmodel.data.splits import Splits
    from tfmodel.models import build_model

    if metadata.writer_python() is None:
        pytest.skip("needs make metadata-venv (make test makes it)")
    x, y = colour_images(220, seed=0)
    splits = Splits(x[:120], y[:120], x[120:140], y[120:140], x[140:], y[140:], COLOURS, 255.0)
    config = copy.deepcopy(digits_config)
    config.model.name = "cnn"
    config.output.name, config.edge.variants = "colours_cnn", ["int8"]
    # Seeded before the weights are made: unseeded, 3 epochs reached 0.56 to 1.0 test accuracy.
    keras.utils.set_random_seed(config.training.seed)
    model = build_model(config.model, config.regularizer, (32, 32, 3), 3, 255.0)
    model = finetune(model, fine_tune_data(splits, config), config, 6)
    out_dir = tmp_path_factory.mktemp("colours") / "edge"
    config.edge.latency_seconds = 0.1  # the report's timing is not tested here
    optimize(describe_trained_model(model, config, splits.class_names), splits, out_dir)
    return out_dir, splits, model
