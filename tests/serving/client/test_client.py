"""Export → local server on free ports → the client, compared with the model run in-process.

The client only speaks TF Serving's public protocol, so what passes here against the local
server is what a user gets from `tensorflow_model_server`.
"""

import json
import time

import numpy as np
import pytest
from PIL import Image
from tensorflow_serving.config import model_server_config_pb2

from serving.client import ServingClient
from serving.client import cli as client_cli
from serving.client.client import CLASSIFY_METHOD, REGRESS_METHOD
from serving.client.errors import RemoteError, UsageError
from serving.client.inputs import make_example
from serving.client.transport import RetryPolicy
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.export.saved_model import export_for_serving
from tfmodel.models import build_model

CLASS_NAMES = [f"digit{i}" for i in range(10)]
TRANSPORTS = {
    "grpc": {},
    "rest-rows": {"rest": True},
    "rest-columns": {"rest": True, "columnar": True},
}


def build_digits_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    config = Config()
    config.model.hidden_units = [16]
    return build_model(config.model, config.regularizer, (8, 8, 1), 10, 16.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 17, size=(7, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def export(images, tmp_path_factory):
    """Versions 1 and 2 of model `digits` (different weights), and their expected logits."""
    base = tmp_path_factory.mktemp("export")
    config = Config()
    config.export.model_name = "digits"
    logits = {}
    for version, seed in ((1, 1), (2, 2)):
        model = build_digits_model(seed)
        export_for_serving(model, config, images, export_base=base, class_names=CLASS_NAMES)
        logits[version] = model.predict(images, verbose=0)
    return base, logits


def address_for(server, transport: str) -> str:
    return server.rest if transport.startswith("rest") else server.grpc


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_predict_equals_keras_softmax(export, images, local_server, transport):
    base, logits = export
    server = local_server(model_config_file=base / "models.config")
    with ServingClient(address_for(server, transport), "digits", **TRANSPORTS[transport]) as client:
        outputs = client.predict(images)
    expected = softmax(logits[2])  # the latest version is served
    assert sorted(outputs) == ["classes", "logits", "probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(outputs["logits"], logits[2], atol=1e-4)
    assert outputs["classes"].dtype == np.int64
    np.testing.assert_array_equal(outputs["classes"], expected.argmax(-1))


@pytest.mark.parametrize("transport", ["grpc", "rest-rows"])
def test_classify_returns_the_top_class(export, images, local_server, transport):
    base, logits = export
    server = local_server(model_config_file=base / "models.config")
    examples = [{"pixels": image.ravel()} for image in images]
    with ServingClient(address_for(server, transport), "digits", **TRANSPORTS[transport]) as client:
        result = client.classify(examples, signature="classify")
    expected = softmax(logits[2])
    np.testing.assert_allclose(result["scores"], expected, atol=1e-5)
    top = result["classes"][np.arange(len(images)), result["scores"].argmax(-1)]
    assert [label.decode() for label in top] == [CLASS_NAMES[i] for i in expected.argmax(-1)]


@pytest.mark.parametrize("transport", ["grpc", "rest-rows"])
def test_metadata_and_status(export, local_server, transport):
    base, _ = export
    server = local_server(model_config_file=base / "models.config")
    with ServingClient(address_for(server, transport), "digits", **TRANSPORTS[transport]) as client:
        metadata = client.metadata()
        statuses = client.status()
    assert (metadata.name, metadata.version) == ("digits", 2)
    assert metadata.signatures["serving_default"].method_name == "tensorflow/serving/predict"
    assert metadata.signatures["classify"].method_name == "tensorflow/serving/classify"
    assert list(metadata.signatures["serving_default"].inputs) == ["pixels"]
    assert [(s.version, s.state, s.error_code) for s in statuses] == [(2, "AVAILABLE", "OK")]


@pytest.mark.parametrize("transport", ["grpc", "rest-rows"])
def test_version_and_label_select_the_model(export, images, local_server, tmp_path, transport):
    base, logits = export
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(
        name="digits", base_path=str(base / "digits"), model_platform="tensorflow"
    )
    entry.model_version_policy.all.SetInParent()
    entry.version_labels["stable"] = 1
    entry.version_labels["canary"] = 2
    (tmp_path / "models.config").write_text(str(config))
    # As TF Serving, labels name loaded versions unless the server is told to allow it at start.
    server = local_server(
        model_config_file=tmp_path / "models.config",
        allow_version_labels_for_unavailable_models=True,
    )
    address, options = address_for(server, transport), TRANSPORTS[transport]
    for pin, version in (({"version": 1}, 1), ({"label": "stable"}, 1), ({"label": "canary"}, 2)):
        with ServingClient(address, "digits", **pin, **options) as client:
            logits_out = client.predict(images, output_filter=["logits"])["logits"]
        np.testing.assert_allclose(logits_out, logits[version], atol=1e-4)
    with ServingClient(address, "digits", version=3, **options) as client:
        with pytest.raises(RemoteError) as caught:
            client.status()
    assert caught.value.code == "NOT_FOUND"


@pytest.mark.parametrize("transport", ["grpc", "rest-rows"])
def test_half_plus_two_classify_and_regress(half_plus_two, local_server, transport):
    server = local_server(model_base_path=half_plus_two, model_name="half_plus_two")
    options = TRANSPORTS[transport]
    with ServingClient(address_for(server, transport), "half_plus_two", **options) as client:
        predicted = client.predict(np.array([[2.0], [3.0], [4.0]], np.float32))
        classified = client.classify([{"x": 2.0}], signature="classify_x_to_y")
        regressed = client.regress([{"x": 2.0}, {"x": 4.0}], signature="regress_x_to_y")
    np.testing.assert_allclose(predicted["y"], [[3.0], [3.5], [4.0]])
    np.testing.assert_allclose(classified["scores"], [[3.0]])
    np.testing.assert_allclose(regressed, [3.0, 4.0])


def test_classify_and_regress_without_a_signature_pick_the_one_of_their_kind(
    export, half_plus_two, local_server
):
    """serving_default is a Predict signature in both models, which TF Serving would refuse."""
    base, _ = export
    server = local_server(model_config_file=base / "models.config")
    with ServingClient(server.grpc, "digits") as client:
        assert client.signature_for(CLASSIFY_METHOD) == "classify"
        with pytest.raises(UsageError, match="no regress signature .* pass --signature NAME"):
            client.signature_for(REGRESS_METHOD)
    server = local_server(model_base_path=half_plus_two, model_name="half_plus_two")
    with ServingClient(server.grpc, "half_plus_two") as client:
        assert client.signature_for(CLASSIFY_METHOD) == "classify_x_to_y"
        assert client.signature_for(REGRESS_METHOD) == "regress_x_to_y"


def test_predict_sends_serialized_examples_whole(half_plus_two, local_server):
    server = local_server(model_base_path=half_plus_two, model_name="half_plus_two")
    serialized = [make_example({"x": x}).SerializeToString() for x in (0.0, 2.0)]
    assert serialized[0].endswith(b"\x00")  # what numpy's bytes dtype would cut off
    with ServingClient(server.grpc, "half_plus_two") as client:
        outputs = client.predict({"inputs": serialized}, signature="classify_x_to_y")
    np.testing.assert_allclose(outputs["scores"], [[2.0], [3.0]])


def test_server_errors_are_readable(export, images, local_server):
    base, _ = export
    server = local_server(model_config_file=base / "models.config")
    with ServingClient(server.grpc, "nope") as client:
        with pytest.raises(RemoteError, match=r"NOT_FOUND: Servable not found .*Latest\(nope\)"):
            client.predict({"pixels": images})
    with ServingClient(server.rest, "digits", rest=True) as client:
        with pytest.raises(RemoteError) as caught:
            client.predict({"wrong": images})
    assert (caught.value.code, caught.value.http_status) == ("INVALID_ARGUMENT", 400)
    assert "wrong" in caught.value.details


def test_cli_predict_and_classify(export, images, local_server, tmp_path, capsys):
    base, logits = export
    server = local_server(model_config_file=base / "models.config")
    np.save(tmp_path / "images.npy", images[:2])
    common = ["--model", "digits", "--input", str(tmp_path / "images.npy")]
    assert client_cli.main(["predict", "--server", server.grpc, *common]) == 0
    printed = capsys.readouterr().out
    assert "probabilities (float32, shape (2, 10))" in printed
    assert str(softmax(logits[2])[:2].argmax(-1)) in printed
    classify = ["classify", "--server", server.rest, "--rest", "--model", "digits"]
    classify += ["--signature", "classify", "--input", f"pixels={tmp_path / 'images.npy'}"]
    assert client_cli.main(classify) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[1] for row in rows] == [
        CLASS_NAMES[i] for i in softmax(logits[2])[:2].argmax(-1)
    ]
    assert client_cli.main(["predict", "--server", server.grpc, "--version", "9", *common]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_cli_predicts_json_over_rest_and_images_over_grpc(
    export, images, local_server, tmp_path, capsys
):
    base, logits = export
    server = local_server(model_config_file=base / "models.config")
    (tmp_path / "request.json").write_text(json.dumps({"instances": images[:2].tolist()}))
    png = np.round(images[2] * (255 / 16)).astype(np.uint8)  # an 8-bit image of a 0..16 digit
    Image.fromarray(png[:, :, 0]).save(tmp_path / "digit.png")
    scaled = png[np.newaxis].astype(np.float32) * (16.0 / 255.0)  # as the client scales it back
    expected = softmax(logits[2])
    rest = ["--server", server.rest, "--rest", "--input", str(tmp_path / "request.json")]
    grpc = ["--server", server.grpc, "--input", str(tmp_path / "digit.png")]
    from_image = softmax(build_digits_model(2).predict(scaled, verbose=0))
    for flags, rows in ((rest, expected[:2]), (grpc, from_image)):
        predict = ["predict", "--model", "digits", "--output-filter", "classes", *flags]
        assert client_cli.main(predict) == 0
        assert capsys.readouterr().out.splitlines()[1] == str(rows.argmax(-1))


@pytest.mark.slow
def test_client_waits_for_a_server_process_that_comes_up_late(half_plus_two, server_process):
    process, address = server_process(
        "--model_name=half_plus_two", f"--model_base_path={half_plus_two}", ready=False
    )
    started = time.monotonic()
    retry = RetryPolicy(attempts=30, initial=0.2, maximum=1.0)
    with ServingClient(address.grpc, "half_plus_two", retry=retry) as client:
        assert [s.state for s in client.status()] == ["AVAILABLE"]
    assert process.poll() is None
    assert time.monotonic() - started < 60
