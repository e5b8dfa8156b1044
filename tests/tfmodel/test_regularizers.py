"""The kernel penalties equal λ·Σ|w|, λ·Σw² and their sum, computed by hand."""

import numpy as np
import pytest

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.errors import UserError
from tfmodel.models import build_model, load_model
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


def tiny_mobilenet(reg: RegularizerConfig) -> keras.Model:
    return build_model(ModelConfig(name="mobilenet_v2", alpha=0.35), reg, (32, 32, 3), 2, 255.0)


@pytest.mark.slow
def test_every_kernel_of_a_mobilenet_is_penalized_as_summed_by_hand():
    model = tiny_mobilenet(RegularizerConfig("l1_l2", 0.01, 0.001))
    kernels = []
    for layer in model.layers:  # by type, independently of tfmodel.regularizers' table
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernels.append(layer.depthwise_kernel)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernels.append(layer.kernel)
    depthwise = sum(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in model.layers)
    assert depthwise == 17 and len(kernels) == 53  # 17 depthwise, 35 convs, the logits
    expected = sum(
        0.01 * np.abs(k.numpy()).astype(np.float64).sum()
        + 0.001 * np.square(k.numpy().astype(np.float64)).sum()
        for k in kernels
    )
    assert len(model.losses) == len(kernels)
    assert float(tf_sum(model.losses)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_a_layer_pattern_gets_its_own_penalty():
    reg = RegularizerConfig(
        "l2", 0.0, 0.001, layers={"logits": {"kind": "none"}, "block_1_*": {"l2": 0.5}}
    )
    model = tiny_mobilenet(reg)
    assert model.get_layer("logits").kernel_regularizer is None
    assert model.get_layer("block_1_depthwise").depthwise_regularizer.l2 == pytest.approx(0.5)
    assert model.get_layer("block_2_depthwise").depthwise_regularizer.l2 == pytest.approx(0.001)
    kernel = model.get_layer("block_1_project").kernel.numpy()
    own = model.get_layer("block_1_project").losses
    assert float(own[0]) == pytest.approx(0.5 * np.square(kernel).sum(), rel=1e-5)


def test_a_bad_layer_pattern_setting_is_one_clear_error():
    reg = RegularizerConfig("l2", layers={"logits": {"knd": "none"}})
    with pytest.raises(UserError, match=r"'regularizer.layers.logits.knd'.*did you mean 'kind'"):
        build_model(ModelConfig(hidden_units=[]), reg, (2, 2, 1), 2, 1.0)


@pytest.mark.slow
def test_penalties_survive_saving_and_loading(tmp_path):
    model = tiny_mobilenet(RegularizerConfig("l2", 0.0, 0.01))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert float(tf_sum(loaded.losses)) == pytest.approx(float(tf_sum(model.losses)), rel=1e-6)


def tf_sum(losses) -> float:
    return float(np.sum([float(loss) for loss in losses]))
