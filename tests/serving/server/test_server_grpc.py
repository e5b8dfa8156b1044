"""The local server's gRPC API against TF Serving's semantics, through raw tensorflow_serving stubs.

The reference is TF Serving's half_plus_two (y = 0.5·x + 2), rebuilt here and, when present, the
originals from TF Serving's testdata: the numbers, the `model_spec` echoed back, the typed output
fields, and the status code and message of every error case.
"""

import json

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfmodel.backend import tf

TIMEOUT = 10


@pytest.fixture
def stubs(local_server, half_plus_two):
    address = local_server(model_base_path=half_plus_two)
    channel = grpc.insecure_channel(address.grpc)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def predict_request(values, model="default", signature="", dtype=tf.float32, version=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(values, dtype))
    return request


def example_input(request, *xs):
    for x in xs:
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    return request


def test_predict_answers_three_with_model_spec_and_typed_floats(stubs):
    response = stubs[0].Predict(predict_request([[2.0]]), TIMEOUT)
    y = response.outputs["y"]
    assert list(y.float_val) == [3.0] and y.tensor_content == b""
    assert y.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in y.tensor_shape.dim] == [1, 1]
    assert response.model_spec.name == "default"
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 123


def test_predict_feeds_shapes_the_signature_does_not_declare(stubs):
    # x is declared (-1, 1); TF Serving still feeds a (3,) vector and answers a (3,) vector.
    response = stubs[0].Predict(predict_request([2.0, 3.0, 4.0], version=123), TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0, 3.5, 4.0]
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [3]
    assert response.model_spec.version.value == 123


def test_predict_reads_tensor_content_as_well_as_typed_fields(stubs):
    request = predict_request([2.0, 3.0])
    request.inputs["x"].ClearField("float_val")
    request.inputs["x"].tensor_content = np.array([2.0, 3.0], np.float32).tobytes()
    response = stubs[0].Predict(request, TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0, 3.5]


def test_classify_and_regress_feed_serialized_examples(stubs):
    request = example_input(classification_pb2.ClassificationRequest(), 2.0, 4.0)
    request.model_spec.name, request.model_spec.signature_name = "default", "classify_x_to_y"
    response = stubs[0].Classify(request, TIMEOUT)
    scores = [[c.score for c in item.classes] for item in response.result.classifications]
    assert scores == [[3.0], [4.0]]
    assert response.result.classifications[0].classes[0].label == ""
    assert response.model_spec.signature_name == "classify_x_to_y"
    assert response.model_spec.version.value == 123

    request = example_input(regression_pb2.RegressionRequest(), 2.0)
    request.model_spec.name, request.model_spec.signature_name = "default", "regress_x_to_y"
    response = stubs[0].Regress(request, TIMEOUT)
    assert [r.value for r in response.result.regressions] == [3.0]
    assert response.model_spec.signature_name == "regress_x_to_y"


def test_examples_with_context_share_its_features(stubs):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "default", "regress_x_to_y"
    context = request.input.example_list_with_context.context
    context.features.feature["x"].float_list.value.append(6.0)
    request.input.example_list_with_context.examples.add()
    assert [r.value for r in stubs[0].Regress(request, TIMEOUT).result.regressions] == [5.0]


def test_multi_inference_runs_regress_and_classify_together(stubs):
    request = example_input(inference_pb2.MultiInferenceRequest(), 2.0)
    for signature, method in [("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")]:
        task = request.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = "default", signature
        task.method_name = f"tensorflow/serving/{method}"
    response = stubs[0].MultiInference(request, TIMEOUT)
    assert response.results[0].regression_result.regressions[0].value == 3.0
    assert response.results[1].classification_result.classifications[0].classes[0].score == 3.0
    assert [r.model_spec.signature_name for r in response.results] == [
        "regress_x_to_y",
        "classify_x_to_y",
    ]
    assert all(r.model_spec.version.value == 123 for r in response.results)


def test_metadata_packs_the_signature_def_map(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "default"
    response = stubs[0].GetModelMetadata(request, TIMEOUT)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "classify_x_to_y", "regress_x_to_y"}
    assert signatures.signature_def["regress_x_to_y"].method_name == "tensorflow/serving/regress"
    assert (response.model_spec.name, response.model_spec.version.value) == ("default", 123)


def test_status_lists_the_available_version(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "default"
    statuses = stubs[1].GetModelStatus(request, TIMEOUT).model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in statuses] == [
        (123, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0)
    ]


def _without_model_spec():
    request = predict_request([2.0])
    request.ClearField("model_spec")
    return request


def _classify_without_examples():
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "default", "classify_x_to_y"
    return request


def _broken_tensor():
    request = predict_request([2.0])
    request.inputs["x"].ClearField("float_val")
    request.inputs["x"].tensor_content = b"\x00\x01\x02"  # 3 bytes for one float32
    return request


def _empty_inputs():
    request = predict_request([2.0])
    request.ClearField("inputs")
    return request


def _renamed_input():
    request = predict_request([2.0])
    request.inputs["z"].CopyFrom(request.inputs.pop("x"))
    return request


def _unknown_label():
    request = predict_request([2.0])
    request.model_spec.version_label = "stable"
    return request


def _unknown_output_filter():
    request = predict_request([2.0])
    request.output_filter.append("z")
    return request


def _regress_on_predict_signature():
    request = example_input(regression_pb2.RegressionRequest(), 2.0)
    request.model_spec.name = "default"  # serving_default has input "x", not "inputs"
    return request


ERROR_CASES = [
    (
        "Predict",
        predict_request([2.0], model="nope"),
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ),
    (
        "Predict",
        predict_request([2.0], version=7),
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Specific(default, 7)",
    ),
    (
        "Predict",
        predict_request([2.0], signature="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    ),
    (
        "Predict",
        _renamed_input(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Signature input alias: x(feed name: x:0) not found in request",
    ),
    (
        "Predict",
        predict_request([2], dtype=tf.int32),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expects arg[0] to be float but int32 is provided",
    ),
    ("Predict", _without_model_spec(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
    (
        "Predict",
        _empty_inputs(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input size does not match signature: 0!=1 len({}) != len({x}). Sent extra: {}. "
        "Missing but required: {x}.",
    ),
    (
        "Predict",
        predict_request([2.0], model=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ModelSpec has no name specified.",
    ),
    ("Predict", _broken_tensor(), grpc.StatusCode.INVALID_ARGUMENT, "tensor parsing error: x"),
    (
        "Predict",
        _unknown_label(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: stable",
    ),
    (
        "Predict",
        _unknown_output_filter(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: z Outputs expected to be in the set {y}.",
    ),
    ("Classify", _classify_without_examples(), grpc.StatusCode.INVALID_ARGUMENT, "Input is empty."),
    (
        "Regress",
        _regress_on_predict_signature(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "No regression inputs found in SignatureDef",
    ),
]


@pytest.mark.parametrize("method,request_proto,code,message", ERROR_CASES)
def test_each_error_has_its_code_and_the_server_keeps_answering(
    stubs, method, request_proto, code, message
):
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stubs[0], method)(request_proto, TIMEOUT)
    assert caught.value.code() == code
    assert message in caught.value.details()
    assert stubs[0].Predict(predict_request([2.0]), TIMEOUT).outputs["y"].float_val == [3.0]


def test_unknown_model_status_is_not_found(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as caught:
        stubs[1].GetModelStatus(request, TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Could not find any versions of model nope"


def write_two_outputs(base_path):
    """A TF1 model with one input and two outputs, for output_filter."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        outputs = {"double": tf.multiply(x, 2.0), "square": tf.square(x)}
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, outputs)
        builder = tf.compat.v1.saved_model.Builder(str(base_path / "1"))
        builder.add_meta_graph_and_variables(session, ["serve"], {"serving_default": signature})
        builder.save()


def test_output_filter_returns_only_the_named_outputs(local_server, tmp_path):
    write_two_outputs(tmp_path)
    address = local_server(model_base_path=tmp_path)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address.grpc))
    request = predict_request([3.0])
    assert set(stub.Predict(request, TIMEOUT).outputs) == {"double", "square"}
    request.output_filter.append("square")
    assert dict(stub.Predict(request, TIMEOUT).outputs)["square"].float_val == [9.0]
    assert set(stub.Predict(request, TIMEOUT).outputs) == {"square"}


@pytest.mark.parametrize(
    "folder,values,expected",
    [
        ("saved_model_half_plus_two_cpu", [2.0, 3.0, 4.0], [3.0, 3.5, 4.0]),
        ("saved_model_half_plus_three", [1.0, 2.0, 5.0], [3.5, 4.0, 5.5]),
        ("saved_model_half_plus_two_tf2_cpu", [2.0], [3.0]),
    ],
)
def test_tf_serving_test_models_predict(tfserving_testdata, local_server, folder, values, expected):
    address = local_server(model_base_path=tfserving_testdata / folder)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address.grpc))
    response = stub.Predict(predict_request(values), TIMEOUT)
    assert list(response.outputs["y"].float_val) == expected
    assert response.model_spec.version.value == 123


@pytest.mark.parametrize(
    "folder", ["saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu"]
)
def test_tf_serving_test_models_classify_and_regress(tfserving_testdata, local_server, folder):
    address = local_server(model_base_path=tfserving_testdata / folder)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address.grpc))
    request = example_input(classification_pb2.ClassificationRequest(), 2.0)
    request.model_spec.name, request.model_spec.signature_name = "default", "classify_x_to_y"
    assert stub.Classify(request, TIMEOUT).result.classifications[0].classes[0].score == 3.0
    request = example_input(regression_pb2.RegressionRequest(), 2.0)
    request.model_spec.name, request.model_spec.signature_name = "default", "regress_x_to_y"
    assert stub.Regress(request, TIMEOUT).result.regressions[0].value == 3.0
    request = example_input(inference_pb2.MultiInferenceRequest(), 2.0)
    task = request.tasks.add(method_name="tensorflow/serving/regress")
    task.model_spec.name, task.model_spec.signature_name = "default", "regress_x_to_y"
    result = stub.MultiInference(request, TIMEOUT).results[0]
    assert result.regression_result.regressions[0].value == 3.0


def test_tf_serving_counter_model_keeps_state_across_requests(tfserving_testdata, local_server):
    address = local_server(model_base_path=tfserving_testdata / "saved_model_counter")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address.grpc))

    def call(signature, delta=None):
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = "default", signature
        if delta is not None:
            request.inputs["delta"].CopyFrom(tf.make_tensor_proto(delta, tf.float32))
        return stub.Predict(request, TIMEOUT).outputs["output"].float_val[0]

    calls = ["get_counter", "incr_counter", "reset_counter", "incr_counter"]
    assert [call(name) for name in calls] + [call("incr_counter_by", 3.0)] == [0, 1, 0, 1, 4]


def test_tf_serving_metadata_matches_its_recorded_json(tfserving_testdata, local_server):
    from urllib.request import urlopen

    address = local_server(model_base_path=tfserving_testdata / "saved_model_half_plus_two_cpu")
    with urlopen(f"http://{address.rest}/v1/models/default/metadata", timeout=TIMEOUT) as answer:
        served = json.load(answer)
    expected = json.loads((tfserving_testdata / "half_plus_two_model_metadata.json").read_text())
    assert served == expected
