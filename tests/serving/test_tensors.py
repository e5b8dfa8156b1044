"""`serving.tensors` for bfloat16, whose numpy dtype (ml_dtypes') is imported when first met."""

import ml_dtypes
import numpy as np
import pytest

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


def string_tensor(shape, content: bytes):
    proto = tf.make_tensor_proto([b""], tf.string)
    del proto.tensor_shape.dim[:], proto.string_val[:]
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    proto.tensor_content = content
    return proto


def test_string_tensor_content_is_read_as_tensorflow_reads_it():
    # TensorFlow's string list: the varint lengths 1, 200, 0, then the bytes
    content = b"\x01\xc8\x01\x00" + b"a" + b"b" * 200
    proto = string_tensor([3, 1], content)
    theirs = tf.io.parse_tensor(proto.SerializeToString(), tf.string).numpy()  # Tensor::FromProto
    assert tensors.make_ndarray(proto).tolist() == theirs.tolist() == [[b"a"], [b"b" * 200], [b""]]


@pytest.mark.parametrize(
    "shape, content",
    [
        ([2**40, 2**40, 1], b"\x00" * 300),  # more elements than an int64 counts
        ([1, 2**40], b"\x00" * 300),  # more strings than the content has bytes
        ([2], b"\x01\x05ab"),  # lengths asking for more bytes than follow
        ([1], b"\xff\xff\xff\xff\xff\xff"),  # a length that never ends
    ],
)
def test_a_string_tensor_content_tensorflow_refuses_is_refused_without_allocating(shape, content):
    proto = string_tensor(shape, content)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_tensor(proto.SerializeToString(), tf.string)
    with pytest.raises(tensors.TensorError):
        tensors.make_ndarray(proto)
