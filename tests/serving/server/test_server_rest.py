"""The local server's REST API: TF Serving's URLs, JSON bodies, text layout and HTTP errors."""

import base64
import json
import urllib.error
import urllib.request

import pytest
from tensorflow.core.example import example_pb2

TIMEOUT = 10


def call(address: str, path: str, body=None) -> tuple[int, str]:
    """One HTTP request; POST when there is a body. Returns (status, text)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{address}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def rest(local_server, half_plus_two) -> str:
    return local_server(model_base_path=half_plus_two).rest


def test_predict_rows_answer_predictions_in_tf_serving_layout(rest):
    status, text = call(rest, "/v1/models/default:predict", {"instances": [2.0, 3.0, 4.0]})
    assert status == 200
    assert json.loads(text) == {"predictions": [3.0, 3.5, 4.0]}
    assert text == '{\n    "predictions": [3.0, 3.5, 4.0\n    ]\n}'  # rapidjson's, byte for byte


def test_predict_columns_answer_outputs(rest):
    status, text = call(rest, "/v1/models/default/versions/123:predict", {"inputs": [2.0, 3.0]})
    assert (status, json.loads(text)) == (200, {"outputs": [3.0, 3.5]})


def test_floats_print_in_their_shortest_float32_form(rest):
    _, text = call(rest, "/v1/models/default:predict", {"instances": [-1.8, 0.4]})
    assert text == '{\n    "predictions": [1.1, 2.2\n    ]\n}'  # not 1.100000023841858


def test_classify_and_regress_take_examples(rest):
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    status, text = call(rest, "/v1/models/default:classify", body)
    assert (status, json.loads(text)) == (200, {"results": [[["", 3.0]]]})
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]}
    status, text = call(rest, "/v1/models/default:regress", body)
    assert (status, json.loads(text)) == (200, {"results": [3.0, 4.0]})


def test_b64_strings_feed_string_inputs(rest):
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    encoded = base64.b64encode(example.SerializeToString()).decode()
    body = {"signature_name": "classify_x_to_y", "instances": [{"b64": encoded}]}
    status, text = call(rest, "/v1/models/default:predict", body)
    assert (status, json.loads(text)) == (200, {"predictions": [[3.0]]})


def test_status_and_metadata(rest):
    status, text = call(rest, "/v1/models/default")
    assert status == 200
    assert json.loads(text) == {  # TF Serving's own testGetStatusREST expectation
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    status, text = call(rest, "/v1/models/default/versions/123/metadata")
    metadata = json.loads(text)
    assert status == 200
    assert metadata["model_spec"] == {"name": "default", "signature_name": "", "version": "123"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "classify_x_to_y", "regress_x_to_y"}
    assert signatures["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"


ERROR_CASES = [
    (
        "/v1/models/nope:predict",
        {"instances": [1.0]},
        404,
        "Servable not found for request: Latest(nope)",
    ),
    (
        "/v1/models/default/versions/7:predict",
        {"instances": [1.0]},
        404,
        "Servable not found for request: Specific(default, 7)",
    ),
    (
        "/v1/models/default/labels/stable:predict",
        {"instances": [1.0]},
        400,
        "Unrecognized servable version label: stable",
    ),
    ("/v1/models/default:predict", b"{not json", 400, "JSON Parse error"),
    ("/v1/models/default:predict", b"", 400, "JSON Parse error: The document is empty"),
    (
        "/v1/models/default:predict",
        {"instances": ["a"]},
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        'JSON Value: "a" Type: String is not of expected type: float',
    ),
    (
        "/v1/models/default:predict",
        {"signature_name": "nope", "instances": [1.0]},
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    ("/v1/models/default:predict", {"instance": [1.0]}, 400, "Missing 'inputs' or 'instances' key"),
    (
        "/v1/models/default:classify",
        {"signature_name": "classify_x_to_y"},
        400,
        "key 'examples' is expected and was not found",
    ),
    (
        "/v1/models/default:explain",
        {"instances": [1.0]},
        400,
        "Malformed request: POST /v1/models/default:explain",
    ),
    ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("/v1/models", None, 400, "Missing model name in request."),
]


@pytest.mark.parametrize("path,body,status,message", ERROR_CASES)
def test_errors_answer_their_http_status_and_the_server_keeps_answering(
    rest, path, body, status, message
):
    code, text = call(rest, path, body)
    assert code == status
    assert set(json.loads(text)) == {"error"} and message in json.loads(text)["error"]
    assert call(rest, "/v1/models/default:predict", {"instances": [2.0]})[1].count("3.0") == 1


def test_paths_outside_v1_are_not_found(rest):
    assert call(rest, "/healthz")[0] == 404


def test_tf_serving_test_model_over_rest(tfserving_testdata, local_server):
    rest = local_server(model_base_path=tfserving_testdata / "saved_model_half_plus_two_cpu").rest
    status, text = call(rest, "/v1/models/default:predict", {"instances": [2.0, 3.0, 4.0]})
    assert (status, json.loads(text)) == (200, {"predictions": [3.0, 3.5, 4.0]})
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    assert json.loads(call(rest, "/v1/models/default:regress", body)[1]) == {"results": [3.0]}
