"""The networks take raw pixels, emit float32 logits and have the configured shape."""

import numpy as np

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.models import build_model


def test_mlp_is_the_reference_recipe():
    model = build_model(ModelConfig(), RegularizerConfig(), (8, 8, 1), 10, 16.0)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [128, 10]
    assert model.input.name.startswith("pixels") and model.output.dtype == "float32"
    assert model.count_params() == 64 * 128 + 128 + 128 * 10 + 10


def test_raw_pixels_are_rescaled_inside_the_model():
    model = build_model(ModelConfig(hidden_units=[]), RegularizerConfig("none"), (2, 2, 1), 2, 16.0)
    model.get_layer("logits").set_weights([np.ones((4, 2), np.float32), np.zeros(2, np.float32)])
    out = model(np.full((1, 2, 2, 1), 16.0, np.float32)).numpy()
    np.testing.assert_allclose(out, [[4.0, 4.0]])  # 16 / 16 = 1 per pixel, summed over 4


def test_cnn_stacks_the_configured_filters():
    model = build_model(
        ModelConfig(name="cnn", filters=[4, 6], hidden_units=[8]),
        RegularizerConfig(),
        (8, 8, 1),
        3,
        255.0,
    )
    convs = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [4, 6]
    assert model(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 3)


def test_logits_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(ModelConfig(hidden_units=[4]), RegularizerConfig(), (2, 2, 1), 2, 1.0)
        assert model.get_layer("dense0").compute_dtype == "bfloat16"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
