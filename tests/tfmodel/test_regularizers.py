"""The kernel penalties equal λ·Σ|w|, λ·Σw² and their sum, computed by hand."""

import numpy as np
import pytest

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.models import build_model
from tfmodel.regularizers import make_regularizer

WEIGHTS = np.array([[1.0, -2.0], [0.5, -0.25], [3.0, 0.0]], dtype=np.float32)


@pytest.mark.parametrize(
    ("kind", "l1", "l2", "expected"),
    [
        ("l1", 0.01, 0.0, 0.01 * np.abs(WEIGHTS).sum()),
        ("l2", 0.0, 0.001, 0.001 * np.square(WEIGHTS).sum()),
        ("l1_l2", 0.01, 0.001, 0.01 * np.abs(WEIGHTS).sum() + 0.001 * np.square(WEIGHTS).sum()),
    ],
)
def test_penalty_on_known_weights(kind, l1, l2, expected):
    layer = keras.layers.Dense(
        2, kernel_regularizer=make_regularizer(RegularizerConfig(kind, l1, l2)), use_bias=False
    )
    layer.build((None, 3))
    layer.kernel.assign(WEIGHTS)
    assert float(sum(layer.losses)) == pytest.approx(expected, rel=1e-6)


def test_none_adds_no_penalty():
    assert make_regularizer(RegularizerConfig("none", 1.0, 1.0)) is None


def test_every_kernel_of_the_model_is_penalized_and_the_penalty_reaches_the_loss():
    reg = RegularizerConfig("l1", 0.5, 0.0)
    model = build_model(
        ModelConfig(name="cnn", filters=[2], hidden_units=[3]), reg, (4, 4, 1), 2, 1.0
    )
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len(kernels) == 3  # conv, dense, logits
    expected = sum(0.5 * np.abs(k.numpy()).sum() for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(loss=loss)
    x, y = np.zeros((2, 4, 4, 1), np.float32), np.zeros((2,), np.int64)
    data_loss = float(loss(y, model(x)))  # the penalty-free part
    total = model.evaluate(x, y, verbose=0)
    assert total == pytest.approx(data_loss + expected, rel=1e-5)
