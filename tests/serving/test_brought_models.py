"""Models a user brings, exported by `python -m tfmodel.export MODEL` and served over gRPC.

The models are made in the tests (tests/brought_models.py). The Keras 3 MobileNetV3Small, from its
`.keras` file and from its own `model.export()`, must answer as Keras 3 does on the test photos;
the SavedModel the server loads has only the project's signatures and output keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from brought_models import SIZE

from serving.client import ServingClient
from tfmodel import sign
from tfmodel.brought import ModelOptions, load_model_data, resolve_model
from tfmodel.data import reading
from tfmodel.export import cli
from tfmodel.export.saved_model import MODEL_CARD_FILE, read_signatures
from tfmodel.keras3 import keras

AGREEMENT = 0.98
BYTES_EXAMPLES = 4
SIGNATURES = ["classify", "serving_bytes", "serving_default"]
OUTPUT_KEYS = ["classes", "logits", "probabilities"]


def export(model, base, *flags: str) -> int:
    return cli.main([str(model), "--export-base", str(base), *flags])


@pytest.fixture(scope="module")
def test_photos(keras3_mobilenet) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """The photos' test split decoded as the export's data decodes it, Keras 3's top-1 on it,
    and the first few files' bytes."""
    options = ModelOptions(data=f"images:{keras3_mobilenet.photos}")
    _, splits = load_model_data(resolve_model(keras3_mobilenet.keras_file, options))
    model = keras.models.load_model(keras3_mobilenet.keras_file)
    files = [Path(path).read_bytes() for path in splits.test.paths[:BYTES_EXAMPLES]]
    images = reading.first_images(splits, "test", len(splits.y_test))
    return images, model.predict(images, verbose=0).argmax(axis=1), files


@pytest.mark.slow
@pytest.mark.parametrize("form", ["keras_file", "export_dir"])
def test_keras3_mobilenet_is_served_as_keras3_predicts(
    form, keras3_mobilenet, test_photos, tmp_path, local_server
):
    x, keras_top1, files = test_photos
    data = f"images:{keras3_mobilenet.photos}"
    assert (
        export(getattr(keras3_mobilenet, form), tmp_path, "--name", "mobile", "--data", data) == 0
    )
    version = tmp_path / "mobile" / "1"
    assert sorted(read_signatures(version)) == SIGNATURES  # no `serve`, no `output_0`
    card = (version / MODEL_CARD_FILE).read_text()
    assert f"evaluated on the test split of `{data}`" in card and "sha256" in card
    address = local_server(model_config_file=tmp_path / "models.config")
    with ServingClient(address.grpc, "mobile") as client:
        outputs = client.predict(x)
        from_bytes = client.predict(np.array(files, dtype=object), signature="serving_bytes")
    assert sorted(outputs) == OUTPUT_KEYS
    np.testing.assert_array_equal(from_bytes["classes"], keras_top1[: len(files)])
    agreement = np.mean(outputs["probabilities"].argmax(axis=1) == keras_top1)
    print(f"{form}: served top-1 equals Keras 3's on {agreement:.3f} of {len(x)} test photos")
    assert agreement >= AGREEMENT


@pytest.mark.slow
def test_a_custom_layer_with_logits_is_served_as_probabilities(
    keras3_custom_layer, tmp_path, local_server
):
    path, layers_file = keras3_custom_layer
    assert export(path, tmp_path, "--custom-objects", str(layers_file)) == 0
    address = local_server(model_config_file=tmp_path / "models.config")
    x = np.random.default_rng(0).uniform(0, 255, (5, SIZE, SIZE, 3)).astype(np.float32)
    with ServingClient(address.grpc, "custom") as client:
        outputs = client.predict({"pixels": x})
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1, atol=1e-5)
    brought = resolve_model(path, ModelOptions(custom_objects=layers_file))
    np.testing.assert_allclose(outputs["logits"], brought.model.predict(x, verbose=0), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["tf_keras_file", "plain_module"])
def test_a_tf_keras_file_and_a_plain_module_are_served(fixture, request, tmp_path, local_server):
    path = request.getfixturevalue(fixture)
    assert export(path, tmp_path, "--name", "brought") == 0
    address = local_server(model_config_file=tmp_path / "models.config")
    bright, dark = np.full((SIZE, SIZE, 3), 220.0), np.full((SIZE, SIZE, 3), 30.0)
    x = np.stack([bright, dark, *np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3))])
    x = x.astype(np.float32)
    with ServingClient(address.grpc, "brought") as client:
        served = client.predict(x)["probabilities"]
    np.testing.assert_allclose(served, resolve_model(path).predict(x), atol=1e-5)
    np.testing.assert_allclose(served.sum(axis=1), 1, atol=1e-5)


def test_a_brought_model_is_signed_with_sign_key(plain_module, tmp_path):
    sign.generate_key_pair(tmp_path / "k", tmp_path / "k.pub")
    assert export(plain_module, tmp_path / "base", "--sign-key", str(tmp_path / "k")) == 0
    version = tmp_path / "base" / plain_module.name / "1"
    sign.verify_model(version, tmp_path / "k.pub")
    assert (version / MODEL_CARD_FILE).is_file()  # inside what was signed
