"""`serving.tensors_json`: JSON values read and written as TF Serving's REST API does."""

import ml_dtypes
import numpy as np
import pytest

from serving import tensors, tensors_json
from serving.apis import types_pb2


def test_bfloat16_is_written_as_json_numbers():
    values = np.array([[1.5, -2.0, 3.25]], ml_dtypes.bfloat16)
    assert tensors_json.ndarray_to_json_value(values) == [[1.5, -2.0, 3.25]]


@pytest.mark.parametrize(
    "value, dtype",
    [
        (np.random.default_rng(0).random((2, 5, 5, 3)).tolist(), types_pb2.DT_FLOAT),
        ([[0, 255], [1, 2.5]], types_pb2.DT_FLOAT),  # ints where floats go: accepted
        ([[1, 2], [3, 2**31 - 1]], types_pb2.DT_INT32),
        ([2**64 - 1, 0], types_pb2.DT_UINT64),
        ([], types_pb2.DT_DOUBLE),
        (7.5, types_pb2.DT_FLOAT),
    ],
)
def test_the_fast_json_path_reads_numbers_as_the_leaf_by_leaf_path(value, dtype, monkeypatch):
    fast = tensors_json.json_value_to_ndarray(value, dtype)
    monkeypatch.setattr(tensors_json, "_dense_numbers", lambda *args: None)
    slow = tensors_json.json_value_to_ndarray(value, dtype)
    assert fast.dtype == slow.dtype and fast.shape == slow.shape
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        ([[1.0, 2.0], [3.0]], types_pb2.DT_FLOAT, "unexpected size"),
        ([[1.0, True]], types_pb2.DT_FLOAT, "is not of expected type"),  # a bool is no number
        ([1.5], types_pb2.DT_INT32, "is not of expected type"),
        ([2**31], types_pb2.DT_INT32, "is not of expected type"),
        ([2**1100], types_pb2.DT_FLOAT, "Number too big"),
        ([[1.0], 2.0], types_pb2.DT_FLOAT, "incorrect level"),
        ([[1.0], ["a"]], types_pb2.DT_FLOAT, "is not of expected type"),
    ],
)
def test_malformed_json_numbers_keep_tf_servings_messages(value, dtype, message):
    with pytest.raises(tensors.TensorError, match=message):
        tensors_json.json_value_to_ndarray(value, dtype)
