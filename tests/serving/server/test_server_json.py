"""Tensors and REST JSON without a server: TensorProto ↔ numpy and TF Serving's JSON formats.

Expected texts and values come from TF Serving's own json_tensor_test.cc and the layout its
rapidjson PrettyWriter produces (e.g. `"predictions": [3.0, 3.5, 4.0` then `]` on its own line).
"""

import json

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from serving.server.frontend.json_writer import format_decimal
from serving.server.frontend.rest_examples import (
    parse_examples,
    write_classification_result,
    write_regression_result,
)
from serving.server.frontend.rest_json import (
    PredictFormat,
    parse_json_object,
    parse_predict_inputs,
    write_predict_response,
)
from serving.server.status import ServingError
from serving.tensors import TensorError, make_ndarray, make_tensor_proto
from serving.tensors_json import json_value_to_ndarray, ndarray_to_json_value
from tfmodel.backend import tf


def tensor(text: str) -> tensor_pb2.TensorProto:
    return text_format.Parse(text, tensor_pb2.TensorProto())


def test_typed_fields_round_trip_and_match_tensorflow():
    for values in [np.array([[1.5, -2.0]], np.float32), np.arange(6, dtype=np.int64).reshape(2, 3)]:
        proto = make_tensor_proto(values)
        assert proto.tensor_content == b""
        np.testing.assert_array_equal(make_ndarray(proto), values)
        np.testing.assert_array_equal(tf.make_ndarray(proto), values)  # TF reads it the same
    strings = make_tensor_proto(["a", b"\xff"])
    assert list(strings.string_val) == [b"a", b"\xff"]
    assert make_ndarray(strings).tolist() == [b"a", b"\xff"]
    half = make_tensor_proto(np.array([1.0, 2.5], np.float16))
    np.testing.assert_array_equal(tf.make_ndarray(half), [1.0, 2.5])


def test_reading_follows_tensor_from_proto():
    content = tensor("dtype: DT_FLOAT tensor_shape { dim { size: 2 } }")
    content.tensor_content = np.array([1, 2], np.float32).tobytes()
    np.testing.assert_array_equal(make_ndarray(content), [1.0, 2.0])
    short = tensor("dtype: DT_INT32 tensor_shape { dim { size: 4 } } int_val: 7 int_val: 8")
    np.testing.assert_array_equal(make_ndarray(short), [7, 8, 8, 8])  # filled with the last
    empty = tensor("dtype: DT_FLOAT tensor_shape { dim { size: 2 } }")
    np.testing.assert_array_equal(make_ndarray(empty), [0.0, 0.0])
    with pytest.raises(TensorError):
        make_ndarray(tensor("dtype: DT_FLOAT tensor_shape { dim { size: -1 } }"))


def test_json_values_follow_tf_serving_typing():
    np.testing.assert_array_equal(
        json_value_to_ndarray([[1, 2.5], [3, 4]], types_pb2.DT_FLOAT), [[1, 2.5], [3, 4]]
    )
    assert json_value_to_ndarray([{"b64": "aGVsbG8="}, "x"], types_pb2.DT_STRING).tolist() == [
        b"hello",
        b"x",
    ]
    float_, int32, int64 = types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_INT64
    for value, dtype, message in [
        (["a"], float_, 'JSON Value: "a" Type: String is not of expected type: float'),
        ([1.5], int32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        (
            [[1], [2, 3]],
            float_,
            "Encountered list at unexpected size: 2 at level: 1 expected size: 1",
        ),
        ([True], int64, "JSON Value: true Type: True is not of expected type: int64"),
    ]:
        with pytest.raises(TensorError) as caught:
            json_value_to_ndarray(value, dtype)
        assert str(caught.value) == message
    assert ndarray_to_json_value(np.array([b"hi"], object), as_bytes=True) == [{"b64": "aGk="}]


@pytest.mark.parametrize(
    "value,text",
    [
        (3.0, "3.0"),
        (0.2, "0.2"),
        (9000000, "9e+06"),
        (999999, "999999.0"),
        (0.5, "0.5"),
        (0.0003, "0.0003"),
        (0.00003, "3e-05"),
        (555557.5, "555557.5"),
        (0.123456789, "0.123456791"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_float32_prints_as_tf_serving_prints_it(value, text):
    assert format_decimal(float(np.float32(value)), float32=True) == text


def test_row_format_stacks_instances_and_answers_predictions_layout():
    document = {"instances": [2.0, 3.0, 4.0]}
    protos, layout = parse_predict_inputs(document, {"x": _info(types_pb2.DT_FLOAT)})
    assert layout is PredictFormat.ROW
    np.testing.assert_array_equal(make_ndarray(protos["x"]), [2.0, 3.0, 4.0])
    outputs = {"y": make_tensor_proto(np.array([3.0, 3.5, 4.0], np.float32))}
    text = write_predict_response(outputs, layout)
    assert text == '{\n    "predictions": [3.0, 3.5, 4.0\n    ]\n}'
    columnar = write_predict_response(outputs, PredictFormat.COLUMNAR)
    assert json.loads(columnar) == {"outputs": [3.0, 3.5, 4.0]}


def test_named_inputs_and_outputs():
    dtypes = {"tag": _info(types_pb2.DT_STRING), "signal": _info(types_pb2.DT_INT32)}
    document = {"instances": [{"tag": "foo", "signal": [1, 2]}, {"tag": "bar", "signal": [3, 4]}]}
    protos, _ = parse_predict_inputs(document, dtypes)
    assert make_ndarray(protos["tag"]).tolist() == [b"foo", b"bar"]
    np.testing.assert_array_equal(make_ndarray(protos["signal"]), [[1, 2], [3, 4]])
    outputs = {
        "str_tensor_bytes": make_tensor_proto([[b"hello", b"world"], [b"tf", b"serving"]]),
        "n": make_tensor_proto(np.array([1, 2], np.int32)),
    }
    assert json.loads(write_predict_response(outputs, PredictFormat.ROW)) == {
        "predictions": [
            {"n": 1, "str_tensor_bytes": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]},
            {"n": 2, "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]},
        ]
    }
    columns, layout = parse_predict_inputs({"inputs": {"tag": ["a"], "signal": [[5]]}}, dtypes)
    assert layout is PredictFormat.COLUMNAR and make_ndarray(columns["signal"]).shape == (1, 1)


@pytest.mark.parametrize(
    "document,message",
    [
        ({"instances": []}, "No values in 'instances' array"),
        ({"instances": [1], "inputs": [1]}, "expecting only one of 'inputs' or 'instances'"),
        ({}, "Missing 'inputs' or 'instances' key"),
        ({"instances": [[1], [1, 2]]}, "Expecting tensor size: 1 but got: 2"),
        ({"instances": [{"x": 1}]}, "JSON object: does not have named input: x"),
    ],
)
def test_bad_predict_bodies_name_the_problem(document, message):
    with pytest.raises(ServingError, match=message) as caught:
        parse_predict_inputs(document, {"default": _info(types_pb2.DT_FLOAT)})
    assert caught.value.http_status == 400


def test_examples_become_tf_examples_and_results_print_as_tf_serving():
    request = classification_pb2.ClassificationRequest()
    parse_examples(
        {"examples": [{"x": 2.0, "tags": ["a", {"b64": "Yg=="}], "n": [1, True]}]}, request
    )
    feature = request.input.example_list.examples[0].features.feature
    assert list(feature["x"].float_list.value) == [2.0]
    assert list(feature["tags"].bytes_list.value) == [b"a", b"b"]
    assert list(feature["n"].int64_list.value) == [1, 1]
    with pytest.raises(ServingError, match="Unexpected element type in feature: m"):
        parse_examples({"examples": [{"m": [1, 2.5]}]}, classification_pb2.ClassificationRequest())
    result = text_format.Parse(
        'classifications { classes { label: "car" score: 0.2 } classes { label: "bike" '
        "score: 0.7 } }",
        classification_pb2.ClassificationResult(),
    )
    assert json.loads(write_classification_result(result)) == {
        "results": [[["car", 0.2], ["bike", 0.7]]]
    }
    regressions = text_format.Parse(
        "regressions { value: 0.2 } regressions { value: 1.0 }", regression_pb2.RegressionResult()
    )
    assert write_regression_result(regressions) == '{\n    "results": [0.2, 1.0]\n}'


def _info(dtype) -> meta_graph_pb2.TensorInfo:
    return meta_graph_pb2.TensorInfo(dtype=dtype)


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [NaN, -Infinity, 1.5]}',  # orjson refuses these literals, json reads them
        '{"instances": [[0.25, 7], [1e3, -2]], "signature_name": "\u00e9"}'.encode(),
    ],
)
def test_json_bodies_read_as_pythons_json_reads_them(body):
    assert json.dumps(parse_json_object(body)) == json.dumps(json.loads(body))


def test_an_integer_past_64_bits_reads_as_a_double_as_in_rapidjson():
    document = parse_json_object(b'{"instances": [18446744073709551615, 18446744073709551616]}')
    assert document["instances"] == [2**64 - 1, float(2**64)]
    assert isinstance(document["instances"][1], float)


def test_a_broken_json_body_keeps_pythons_json_message():
    with pytest.raises(ServingError) as raised:
        parse_json_object(b'{"instances": [1, 2')
    try:
        json.loads(b'{"instances": [1, 2')
    except ValueError as error:
        expected = f"JSON Parse error: {error} at offset: {error.pos}"
    assert raised.value.message == expected
