"""Hypothesis strategies for hostile requests to the server: gRPC request protos and REST calls.

Shared by the fuzz tests (`test_server_fuzz.py`). The model under attack is half_plus_two, named
`MODEL`, version 123; the strategies mix well-formed parts (its real names, signatures, versions)
with broken ones (unknown dtype enums, negative and huge dimensions, content of the wrong length,
deep nesting, garbage bytes), so requests get past the first checks and reach the deeper ones.
Values and text are cut from one drawn byte string each: thousands of requests a minute.
"""

import json

import numpy as np
from hypothesis import strategies as st
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

MODEL = "half_plus_two"
VERSION = 123

texts = st.binary(max_size=12).map(lambda raw: raw.decode("utf-8", errors="replace"))
names = st.sampled_from([MODEL, MODEL, MODEL, "", "nope", "x" * 300]) | texts
signatures = st.sampled_from(["", "serving_default", "classify_x_to_y", "regress_x_to_y", "no"])
dtypes = (
    st.just(types_pb2.DT_STRING)  # its fill and tensor_content follow their own rules
    | st.sampled_from(list(types_pb2.DataType.values()))
    | st.integers(-3, 400)
)
dims = st.integers(-3, 4) | st.sampled_from([2**20, 2**31, 2**40, 2**62, 2**63 - 1, -(2**63)])


def values_of(dtype) -> st.SearchStrategy[list]:
    """A list of 0-8 values of a numpy dtype, any bit pattern (NaN, inf, extremes included)."""
    size = np.dtype(dtype).itemsize
    return st.binary(max_size=8 * size).map(
        lambda raw: np.frombuffer(raw[: len(raw) // size * size], dtype=dtype).tolist()
    )


@st.composite
def model_specs(draw) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=draw(names), signature_name=draw(signatures | texts))
    choice = draw(st.sampled_from(["latest", "version", "label"]))
    if choice == "version":
        spec.version.value = draw(
            st.sampled_from([VERSION, 0, -1]) | st.integers(-(2**63), 2**63 - 1)
        )
    elif choice == "label":
        spec.version_label = draw(st.sampled_from(["stable", ""]) | texts)
    return spec


@st.composite
def tensors(draw) -> tensor_pb2.TensorProto:
    """A TensorProto whose dtype, shape and values need not agree with each other."""
    proto = tensor_pb2.TensorProto(dtype=draw(dtypes))
    if draw(st.integers(0, 20)) == 0:
        proto.tensor_shape.unknown_rank = True
    rank = draw(st.sampled_from([0, 1, 1, 2, 2, 3, 40]))
    for size in draw(st.lists(dims, min_size=rank, max_size=rank)):
        proto.tensor_shape.dim.add(size=size)
    fields = ["float_val", "int_val", "int64_val", "string_val", "bool_val", "half_val"]
    field = draw(st.sampled_from(["tensor_content", "none", *fields, "dcomplex_val"]))
    field_dtypes = {
        "float_val": np.float32,
        "dcomplex_val": np.float64,
        "int_val": np.int32,
        "int64_val": np.int64,
        "bool_val": np.bool_,
        "half_val": np.uint16,
    }
    if field == "tensor_content":
        proto.tensor_content = draw(st.binary(max_size=64))
    elif field == "string_val":
        proto.string_val.extend(draw(st.binary(max_size=32)).split(b","))
    elif field in field_dtypes:
        getattr(proto, field).extend(draw(values_of(field_dtypes[field])))
    return proto


@st.composite
def predict_requests(draw) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    if draw(st.integers(0, 10)):
        request.model_spec.CopyFrom(draw(model_specs()))
    for alias in draw(st.lists(st.sampled_from(["x", "x", "y", "inputs"]) | texts, max_size=3)):
        request.inputs[alias].CopyFrom(draw(tensors()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "x"]) | texts, max_size=2)))
    return request


@st.composite
def examples(draw) -> example_pb2.Example:
    example = example_pb2.Example()
    for key in draw(st.lists(st.sampled_from(["x", "y"]) | texts, max_size=2)):
        feature = example.features.feature[key]
        kind = draw(st.sampled_from(["float", "int64", "bytes"]))
        if kind == "float":
            feature.float_list.value.extend(draw(values_of(np.float32)))
        elif kind == "int64":
            feature.int64_list.value.extend(draw(values_of(np.int64)))
        else:
            feature.bytes_list.value.extend(draw(st.binary(max_size=16)).split(b","))
    return example


@st.composite
def example_inputs(draw, request):
    """Fills `request.input` with zero or more tf.Examples (sometimes with a context)."""
    kind = draw(st.sampled_from(["none", "list", "list", "context"]))
    batch = draw(st.lists(examples(), max_size=4))
    if kind == "list":
        request.input.example_list.examples.extend(batch)
    elif kind == "context":
        request.input.example_list_with_context.examples.extend(batch)
        request.input.example_list_with_context.context.CopyFrom(draw(examples()))
    return request


@st.composite
def classify_or_regress_requests(draw):
    request_class = draw(
        st.sampled_from(
            [classification_pb2.ClassificationRequest, regression_pb2.RegressionRequest]
        )
    )
    request = request_class()
    if draw(st.integers(0, 10)):
        request.model_spec.CopyFrom(draw(model_specs()))
    return draw(example_inputs(request))


@st.composite
def multi_inference_requests(draw) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    methods = ["tensorflow/serving/classify", "tensorflow/serving/regress", "nope"]
    for _ in range(draw(st.integers(0, 3))):
        task = request.tasks.add(method_name=draw(st.sampled_from(methods)))
        task.model_spec.CopyFrom(draw(model_specs()))
    return draw(example_inputs(request))


@st.composite
def metadata_requests(draw) -> get_model_metadata_pb2.GetModelMetadataRequest:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    if draw(st.integers(0, 10)):
        request.model_spec.CopyFrom(draw(model_specs()))
    fields = st.lists(st.sampled_from(["signature_def"]) | texts, max_size=2)
    request.metadata_field.extend(draw(fields))
    return request


@st.composite
def status_requests(draw) -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    if draw(st.integers(0, 10)):
        request.model_spec.CopyFrom(draw(model_specs()))
    return request


@st.composite
def reload_requests(draw, base_path: str) -> model_management_pb2.ReloadConfigRequest:
    """Configs that keep serving MODEL from `base_path`, plus broken extra entries.

    Extra entries point nowhere that exists (a folder without versions would wait, by design).
    """
    request = model_management_pb2.ReloadConfigRequest()
    kind = draw(st.sampled_from(["empty", "custom", "list", "list", "list"]))
    if kind == "custom":
        request.config.custom_model_config.type_url = "x"
    if kind != "list":
        return request
    served = request.config.model_config_list.config.add(
        name=MODEL, base_path=base_path, model_platform="tensorflow"
    )
    if draw(st.booleans()):
        served.version_labels[draw(st.sampled_from(["stable", "canary"]))] = draw(
            st.sampled_from([VERSION, 7])
        )
    for _ in range(draw(st.integers(0, 2))):
        extra = request.config.model_config_list.config.add(
            name=draw(names),
            base_path=draw(st.sampled_from(["relative/x", "/nonexistent/models/x", ""])),
            model_platform=draw(st.sampled_from(["tensorflow", "", "pytorch"])),
        )
        if draw(st.booleans()):
            extra.model_version_policy.specific.versions.extend(
                draw(st.lists(st.integers(-2, 9), max_size=2))
            )
    return request


def grpc_calls(base_path: str):
    """(method name, request) pairs over every RPC of both services."""
    return st.one_of(
        st.tuples(st.just("Predict"), predict_requests()),
        st.tuples(st.just("Predict"), predict_requests()),
        classify_or_regress_requests().map(
            lambda r: ("Classify" if "Classification" in type(r).__name__ else "Regress", r)
        ),
        st.tuples(st.just("MultiInference"), multi_inference_requests()),
        st.tuples(st.just("GetModelMetadata"), metadata_requests()),
        st.tuples(st.just("GetModelStatus"), status_requests()),
        st.tuples(st.just("HandleReloadConfigRequest"), reload_requests(base_path)),
    )


# REST: paths, then bodies.
_ROUTES = [
    f"/v1/models/{MODEL}:predict",
    f"/v1/models/{MODEL}:classify",
    f"/v1/models/{MODEL}:regress",
    f"/v1/models/{MODEL}/versions/{VERSION}:predict",
    f"/v1/models/{MODEL}/versions/-1:predict",
    f"/v1/models/{MODEL}/versions/99999999999999999999999:predict",
    f"/v1/models/{MODEL}/labels/stable:predict",
    f"/v1/models/{MODEL}/labels/%ff%fe:predict",
    f"/v1/models/{MODEL}:PREDICT",
    f"/v1/models/{MODEL}",
    f"/v1/models/{MODEL}/metadata",
    f"/v1/models/{MODEL}/versions/{VERSION}/metadata",
    "/v1/models",
    "/v1/models/nope:predict",
    "/v1/",
    "/",
]
rest_paths = st.sampled_from(_ROUTES) | texts.map(lambda text: "/v1/models/" + text)
rest_verbs = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)
numbers = values_of(np.float32).filter(bool).map(lambda row: [x for x in row if abs(x) < 1e30])


@st.composite
def predict_documents(draw) -> dict:
    """Predict-shaped JSON: mostly right keys, values sometimes right, sometimes anything."""
    value = draw(
        st.one_of(
            numbers.map(lambda row: [[x] for x in row]),
            st.lists(numbers, min_size=1, max_size=3),
            st.just([{"b64": "!!not base64!!"}]),
            st.just([[{"x": [1.0]}, {"y": [2.0]}]]),
            json_values,
        )
    )
    key = draw(st.sampled_from(["instances", "inputs", "examples", "signature_name"]))
    document = {key: value}
    if draw(st.booleans()):
        document["signature_name"] = draw(signatures | st.integers() | st.none())
    if draw(st.integers(0, 5)) == 0:
        document["inputs" if key == "instances" else "instances"] = value
    return document


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"


rest_bodies = st.one_of(
    st.binary(max_size=64),
    predict_documents().map(lambda doc: json.dumps(doc).encode()),
    predict_documents().map(lambda doc: json.dumps(doc).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([31, 32, 33, 60, 99, 100, 101, 1000, 100_000]).map(_nested),
    st.sampled_from(
        [
            b'{"instances": [1e400]}',
            b'{"instances": [' + b"9" * 500 + b"]}",
            b'{"instances": [[NaN], [Infinity]]}',
            b'{"instances": [[1.0], [1.0, 2.0]]}',
            b'{"inputs": {"x": [[1.0]], "y": 2}}',
            b'{"examples": [{"x": {"b64": "%%%"}}]}',
            b'{"examples": [{"x": [1.0, "a", null]}]}',
            b'{"instances": [{"b64": "AAAA"}]}',
            b"[" * 5000,
            b'"' * 1001,
            b"\xff\xfe\x00",
        ]
    ),
)
