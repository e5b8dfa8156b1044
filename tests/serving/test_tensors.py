"""`serving.tensors` for bfloat16, whose numpy dtype (ml_dtypes') is imported when first met."""

import ml_dtypes
import numpy as np

from serving import tensors
from serving.apis import types_pb2
from tfmodel.backend import tf


def test_bfloat16_tensors_are_written_and_read_as_tensorflow_does():
    values = np.array([[1.5, -2.0, 3.25]], ml_dtypes.bfloat16)
    ours = tensors.make_tensor_proto(values)
    assert ours.dtype == types_pb2.DT_BFLOAT16
    np.testing.assert_array_equal(tf.make_ndarray(ours), values)  # TensorFlow reads ours
    theirs = tensors.make_ndarray(tf.make_tensor_proto(values))  # we read TensorFlow's
    assert theirs.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(theirs, values)
    assert tensors.kind_of(types_pb2.DT_BFLOAT16).name == "bfloat16"
    assert tensors.ndarray_to_json_value(values) == [[1.5, -2.0, 3.25]]
