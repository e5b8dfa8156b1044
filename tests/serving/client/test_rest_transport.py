"""The REST transport speaks TF Serving's JSON: checked against a server answering as TF Serving's
REST API documentation says (request bodies recorded, canned answers in the documented shapes)."""

import http.server
import json
import threading

import numpy as np
import pytest
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving.client import ServingClient
from serving.client.inputs import make_example
from serving.client.rest_transport import example_to_json, model_path

# half_plus_two's signatures as GetModelMetadata describes them, plus a two-output one.
SIGNATURES = {
    "serving_default": {"x": types_pb2.DT_FLOAT, "y": types_pb2.DT_FLOAT},
    "two": {"x": types_pb2.DT_FLOAT, "score": types_pb2.DT_DOUBLE, "label": types_pb2.DT_STRING},
}


def metadata_json() -> dict:
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for name, tensors in SIGNATURES.items():
        signature = signatures.signature_def[name]
        signature.method_name = "tensorflow/serving/predict"
        for key, dtype in tensors.items():
            side = signature.inputs if key == "x" else signature.outputs
            side[key].CopyFrom(meta_graph_pb2.TensorInfo(name=f"{key}:0", dtype=dtype))
    spec = model_pb2.ModelSpec(name="half_plus_two")
    spec.version.value = 123
    return {
        "model_spec": json_format.MessageToDict(spec, preserving_proto_field_name=True),
        "metadata": {
            "signature_def": json_format.MessageToDict(signatures, preserving_proto_field_name=True)
        },
    }


ANSWERS = {
    ("GET", "/v1/models/half_plus_two/metadata"): metadata_json(),
    ("POST", "/v1/models/half_plus_two:predict"): {"predictions": [2.5, 3.0]},
    ("POST", "/v1/models/half_plus_two/versions/123:predict"): {"outputs": [2.5, 3.0]},
    ("POST", "/v1/models/half_plus_two/labels/stable:predict"): {
        "predictions": [{"score": 0.25, "label": "a"}, {"score": 0.75, "label": "b"}]
    },
    ("POST", "/v1/models/half_plus_two:classify"): {"results": [[["", 3.0]], [["", 3.5]]]},
    ("POST", "/v1/models/half_plus_two:regress"): {"results": [3.0, 3.5]},
}


class DocumentedRestHandler(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def answer(self, method):
        if method == "POST":
            self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        key = (
            method,
            "/v1/models/half_plus_two/metadata" if "metadata" in self.path else self.path,
        )
        data = json.dumps(ANSWERS.get(key, {"error": f"no canned answer to {key}"})).encode()
        self.send_response(200 if key in ANSWERS else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def address():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DocumentedRestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def bodies():
    DocumentedRestHandler.bodies.clear()
    return DocumentedRestHandler.bodies


def test_predict_rows_out_and_back_typed_by_the_signature(address, bodies):
    with ServingClient(address, "half_plus_two", rest=True) as client:
        outputs = client.predict(np.array([1.0, 2.0], np.float32))
    assert bodies == [{"instances": [{"x": 1.0}, {"x": 2.0}], "signature_name": "serving_default"}]
    assert outputs["y"].dtype == np.float32
    np.testing.assert_array_equal(outputs["y"], [2.5, 3.0])


def test_predict_columnar_with_a_version(address, bodies):
    with ServingClient(address, "half_plus_two", version=123, rest=True, columnar=True) as client:
        outputs = client.predict({"x": np.array([1.0, 2.0], np.float32)}, signature="")
    assert bodies == [{"inputs": {"x": [1.0, 2.0]}}]
    np.testing.assert_array_equal(outputs["y"], [2.5, 3.0])


def test_predict_several_outputs_with_a_label_and_output_filter(address, bodies):
    with ServingClient(address, "half_plus_two", label="stable", rest=True) as client:
        both = client.predict({"x": np.array([[1.0], [2.0]], np.float32)}, signature="two")
        only = client.predict(
            {"x": np.array([[1.0], [2.0]], np.float32)}, signature="two", output_filter=["label"]
        )
    assert bodies[0]["instances"] == [{"x": [1.0]}, {"x": [2.0]}]
    assert both["score"].dtype == np.float64
    np.testing.assert_array_equal(both["score"], [0.25, 0.75])
    assert both["label"].tolist() == [b"a", b"b"]
    assert list(only) == ["label"]


def test_classify_and_regress_send_examples(address, bodies):
    with ServingClient(address, "half_plus_two", rest=True) as client:
        classified = client.classify([{"x": 2.0}, {"x": 3.0}], signature="classify_x_to_y")
        regressed = client.regress([{"x": 2.0}, {"x": 3.0}])
    assert bodies[0] == {
        "signature_name": "classify_x_to_y",
        "examples": [{"x": [2.0]}, {"x": [3.0]}],
    }
    assert bodies[1] == {"examples": [{"x": [2.0]}, {"x": [3.0]}]}
    np.testing.assert_array_equal(classified["scores"], [[3.0], [3.5]])
    assert classified["classes"].tolist() == [[b""], [b""]]
    np.testing.assert_array_equal(regressed, [3.0, 3.5])


def test_metadata_from_tf_serving_json(address):
    with ServingClient(address, "half_plus_two", rest=True) as client:
        metadata = client.metadata()
    assert (metadata.name, metadata.version) == ("half_plus_two", 123)
    assert sorted(metadata.signatures) == ["serving_default", "two"]
    assert metadata.signatures["two"].outputs["label"].dtype == types_pb2.DT_STRING


def test_model_path_and_example_json():
    spec = model_pb2.ModelSpec(name="my model")
    assert model_path(spec) == "/v1/models/my%20model"
    spec.version_label = "canary/1"
    assert model_path(spec) == "/v1/models/my%20model/labels/canary%2F1"
    spec.version.value = 0
    assert model_path(spec) == "/v1/models/my%20model/versions/0"
    example = make_example({"x": 3.0, "n": 2, "b": b"\x00\xff"})
    assert json.dumps(example_to_json(example), sort_keys=True) == (
        '{"b": [{"b64": "AP8="}], "n": [2], "x": [3.0]}'
    )
