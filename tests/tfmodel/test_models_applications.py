"""Named edge networks: raw pixels in, logits out, grey input, body weights from a file."""

import urllib.error

import numpy as np
import pytest

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.errors import UserError
from tfmodel.models import build_model, inference_model

NAMES = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"]
NONE = RegularizerConfig("none")


def tiny(name: str, input_shape=(32, 32, 3), pixel_max=255.0, **model) -> keras.Model:
    model.setdefault("alpha", 1.0 if name == "efficientnet_b0" else 0.35)
    return build_model(ModelConfig(name=name, **model), NONE, input_shape, 3, pixel_max)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_grey_raw_pixels_in_float32_logits_out(name):
    model = tiny(name, (32, 32, 1), pixel_max=16.0)
    assert model.input.name.startswith("pixels") and model.output.dtype == "float32"
    assert model.get_layer("logits").activation is keras.activations.linear
    # Grey is repeated to RGB inside: the same body fed the RGB image gives the same logits.
    rgb = tiny(name, (32, 32, 3), pixel_max=16.0)
    rgb.set_weights(model.get_weights())
    x = np.random.default_rng(0).uniform(0, 16, (2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(model(x), rgb(np.repeat(x, 3, axis=-1)), atol=1e-5)


@pytest.mark.parametrize(
    "name, layer, expected",
    [
        ("mobilenet_v2", "to_minus1_1", [-1.0, 1.0]),
        ("mobilenet_v3_small", "to_0_255", [0.0, 255.0]),
    ],
)
def test_the_networks_preprocessing_is_inside(name, layer, expected):
    model = tiny(name, pixel_max=16.0)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 16)  # export's input range
    scaled = keras.Model(model.input, model.get_layer(layer).output)
    x = np.stack([np.zeros((32, 32, 3)), np.full((32, 32, 3), 16.0)]).astype(np.float32)
    np.testing.assert_allclose(scaled(x).numpy()[:, 0, 0, 0], expected, rtol=1e-6)


@pytest.mark.slow
def test_alpha_sets_the_width():
    narrow, wide = (tiny("mobilenet_v2", alpha=a).get_layer("Conv1").filters for a in (0.35, 1.0))
    assert (narrow, wide) == (16, 32)


@pytest.mark.slow
def test_export_copy_of_a_named_network_predicts_the_same():
    model = tiny("mobilenet_v3_small")
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(inference_model(model)(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_body_weights_load_from_a_file(tmp_path):
    body = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    body.save_weights(tmp_path / "body_no_top.h5")
    model = tiny("mobilenet_v2", (32, 32, 1), weights=str(tmp_path / "body_no_top.h5"))
    for layer in (layer for layer in body.layers if layer.weights):
        for theirs, ours in zip(
            layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(theirs, ours)
    assert len(body.get_weights()) == len(model.get_weights()) - 2  # + the logits' kernel, bias


def test_a_missing_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"model.weights .*nope.h5: no such file"):
        tiny("mobilenet_v2", weights=str(tmp_path / "nope.h5"))


def test_imagenet_offline_says_which_file_to_place_where(tmp_path, monkeypatch):
    from tf_keras.src.utils import data_utils

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data_utils, "urlretrieve", offline)  # never download in a test
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    with pytest.raises(UserError, match=f"place that file at {tmp_path / 'models' / name}"):
        tiny("mobilenet_v2", (96, 96, 3), weights="imagenet")


@pytest.mark.parametrize(
    "name, shape, settings, message",
    [
        ("mobilenet_v2", (28, 28, 1), {}, "at least 32x32"),
        ("efficientnet_b0", (32, 32, 3), {"alpha": 0.5}, "no width multiplier"),
        (
            "mobilenet_v3_small",
            (32, 32, 3),
            {"alpha": 0.35, "weights": "imagenet"},
            "alpha can be one of",
        ),
    ],
)
def test_what_a_network_cannot_take_is_one_clear_error(name, shape, settings, message):
    with pytest.raises(UserError, match=message):
        build_model(ModelConfig(name=name, **settings), NONE, shape, 3, 255.0)
