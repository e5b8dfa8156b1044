"""Counting zeros in a `.tflite`: the weight matrices of a model with known zeros, as float32,
float16 (weights behind a DEQUANTIZE op) and int8 (zero where the value equals its zero point)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge.sparsity import tflite_kernel_sparsity, zero_fraction  # noqa: E402
from tfmodel.backend import tf  # noqa: E402
from tfmodel.keras3 import keras  # noqa: E402

# (layer, fraction of its kernel set to zero)
ZEROS = {"conv": 0.25, "dense": 0.5}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A Keras 3 conv + dense model whose kernels hold exactly ZEROS, exported as a SavedModel."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(16, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(8, name="dense"),
        ]
    )
    rng = np.random.default_rng(0)
    for name, fraction in ZEROS.items():
        layer = model.get_layer(name)
        kernel = rng.uniform(0.5, 1.0, layer.kernel.shape) * rng.choice([-1, 1], layer.kernel.shape)
        kernel.flat[rng.permutation(kernel.size)[: round(kernel.size * fraction)]] = 0
        layer.kernel.assign(kernel.astype("float32"))
        assert zero_fraction([layer.kernel.numpy()]) == fraction
    path = tmp_path_factory.mktemp("sparsity") / "saved"
    model.export(path, verbose=False)
    return path


@pytest.mark.parametrize("kind", ["float32", "float16", "int8"])
def test_each_weight_matrix_reports_its_zeros(saved_model, tmp_path, kind):
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        rng = np.random.default_rng(1)
        converter.representative_dataset = lambda: (
            [rng.uniform(0, 1, (1, 8, 8, 3)).astype("float32")] for _ in range(8)
        )
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(converter.convert())
    assert sorted(tflite_kernel_sparsity(path).values()) == pytest.approx(sorted(ZEROS.values()))
