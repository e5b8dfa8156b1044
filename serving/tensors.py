"""Tensors as TF Serving reads and writes them in its messages: TensorProto ↔ numpy.

TF Serving reads a request tensor from `tensor_content` or from the typed field (`float_val`, …;
a short typed field is filled up with its last value, an empty one with zeros) and writes response
tensors into the typed fields, never `tensor_content`. Strings are numpy object arrays of `bytes`.
A string tensor's `tensor_content` is TensorFlow's string list: every length as a varint, then
every string's bytes. JSON values are `serving.tensors_json`'s. This module keeps no state, so the
client and the server share it.
"""

import dataclasses
import math

import numpy as np

from serving.apis import tensor_pb2, types_pb2


class TensorError(ValueError):
    """A tensor that cannot be converted (bad dtype, shape, values or JSON layout)."""


@dataclasses.dataclass(frozen=True)
class TensorKind:
    """One TensorFlow dtype: its enum, numpy dtype, TensorProto typed field and TF's name for it."""

    dtype: int
    numpy: np.dtype
    field: str
    name: str


_KINDS = (
    TensorKind(types_pb2.DT_FLOAT, np.dtype(np.float32), "float_val", "float"),
    TensorKind(types_pb2.DT_DOUBLE, np.dtype(np.float64), "double_val", "double"),
    TensorKind(types_pb2.DT_INT32, np.dtype(np.int32), "int_val", "int32"),
    TensorKind(types_pb2.DT_UINT8, np.dtype(np.uint8), "int_val", "uint8"),
    TensorKind(types_pb2.DT_INT16, np.dtype(np.int16), "int_val", "int16"),
    TensorKind(types_pb2.DT_INT8, np.dtype(np.int8), "int_val", "int8"),
    TensorKind(types_pb2.DT_UINT16, np.dtype(np.uint16), "int_val", "uint16"),
    TensorKind(types_pb2.DT_STRING, np.dtype(object), "string_val", "string"),
    TensorKind(types_pb2.DT_INT64, np.dtype(np.int64), "int64_val", "int64"),
    TensorKind(types_pb2.DT_BOOL, np.dtype(np.bool_), "bool_val", "bool"),
    TensorKind(types_pb2.DT_UINT32, np.dtype(np.uint32), "uint32_val", "uint32"),
    TensorKind(types_pb2.DT_UINT64, np.dtype(np.uint64), "uint64_val", "uint64"),
    TensorKind(types_pb2.DT_HALF, np.dtype(np.float16), "half_val", "half"),
    TensorKind(types_pb2.DT_COMPLEX64, np.dtype(np.complex64), "scomplex_val", "complex64"),
    TensorKind(types_pb2.DT_COMPLEX128, np.dtype(np.complex128), "dcomplex_val", "complex128"),
)
_BY_DTYPE = {kind.dtype: kind for kind in _KINDS}  # and bfloat16, once _add_bfloat16 ran
_BY_NUMPY = {kind.numpy: kind for kind in _KINDS}
_HALF_BITS = (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16)  # stored as uint16 bit patterns
MAX_RANK = 32  # numpy's array rank limit on older releases (TensorFlow allows 254)
MAX_ELEMENTS = 2**63 - 1  # TensorShape::IsValid: the element count must fit an int64


def kind_of(dtype: int) -> TensorKind:
    """The TensorKind of a DataType enum value (e.g. `types_pb2.DT_FLOAT`)."""
    if dtype == types_pb2.DT_BFLOAT16:
        _add_bfloat16()
    if dtype not in _BY_DTYPE:
        raise TensorError(f"unsupported tensor dtype {dtype_name(dtype)}")
    return _BY_DTYPE[dtype]


def kind_of_numpy(dtype: np.dtype) -> TensorKind:
    """The TensorKind of a numpy dtype (object arrays hold strings)."""
    if np.dtype(dtype).name == "bfloat16":  # an ml_dtypes array: ml_dtypes is imported
        _add_bfloat16()
    if np.dtype(dtype) not in _BY_NUMPY:
        raise TensorError(f"numpy dtype {dtype} has no TensorFlow equivalent")
    return _BY_NUMPY[np.dtype(dtype)]


def _add_bfloat16() -> None:
    """bfloat16's numpy dtype is ml_dtypes', imported on first use: ml_dtypes takes 3.5 s to
    import on 2 cores (its extension's start-up), longer than the rest of the client together."""
    if types_pb2.DT_BFLOAT16 not in _BY_DTYPE:
        import ml_dtypes

        kind = TensorKind(
            types_pb2.DT_BFLOAT16, np.dtype(ml_dtypes.bfloat16), "half_val", "bfloat16"
        )
        _BY_DTYPE[kind.dtype] = _BY_NUMPY[kind.numpy] = kind


def dtype_name(dtype: int) -> str:
    """TensorFlow's short name for a DataType ("float", "int32", …), as used in TF's messages."""
    if dtype in _BY_DTYPE:
        return _BY_DTYPE[dtype].name
    if dtype not in types_pb2.DataType.values():
        return f"unknown DataType {dtype}"  # a proto3 enum field keeps numbers it has no name for
    return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()


def as_array(values) -> np.ndarray:
    """Values as a numpy array in a TF dtype: text and bytes become an object array of bytes."""
    try:
        array = np.asarray(values)
    except UnicodeError:  # a list mixing text and non-ASCII bytes
        array = np.asarray(values, dtype=object)
    if array.dtype.kind == "S" and not isinstance(values, np.ndarray):
        # numpy's fixed-width bytes drop trailing NULs (a tf.Example ending in 0.0 would be cut)
        array = np.asarray(values, dtype=object)
    if array.dtype.kind in "SUO":
        return (
            np.vectorize(_to_bytes, otypes=[object])(array) if array.size else array.astype(object)
        )
    kind_of_numpy(array.dtype)  # raises for dtypes TensorFlow lacks
    return array


def _to_bytes(value) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return bytes(value)
    raise TensorError(f"a string tensor holds {type(value).__name__} {value!r}, not text or bytes")


def make_tensor_proto(values, dtype: int | None = None) -> tensor_pb2.TensorProto:
    """A TensorProto with the values in its typed field, as TF Serving writes responses."""
    array = as_array(values)
    kind = kind_of(dtype) if dtype is not None else kind_of_numpy(array.dtype)
    if kind.dtype != types_pb2.DT_STRING:
        array = array.astype(kind.numpy, copy=False)
    proto = tensor_pb2.TensorProto(dtype=kind.dtype)
    for size in array.shape:  # added in place: half the cost of building a TensorShapeProto
        proto.tensor_shape.dim.add(size=size)
    flat = array.reshape(-1)
    if kind.dtype in _HALF_BITS:
        getattr(proto, kind.field).extend(flat.view(np.uint16).tolist())
    elif kind.field in ("scomplex_val", "dcomplex_val"):
        getattr(proto, kind.field).extend(np.stack([flat.real, flat.imag], -1).reshape(-1).tolist())
    else:
        getattr(proto, kind.field).extend(flat.tolist())
    return proto


def make_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The numpy array a TensorProto holds, read with TensorFlow's rules (`Tensor::FromProto`)."""
    kind = kind_of(proto.dtype)
    shape = shape_of(proto)
    count = math.prod(shape)
    if proto.tensor_content and kind.dtype == types_pb2.DT_STRING:
        return np.array(_decode_string_list(proto.tensor_content, count), dtype=object).reshape(
            shape
        )
    if proto.tensor_content:
        if len(proto.tensor_content) != count * kind.numpy.itemsize:
            raise TensorError(
                f"tensor_content holds {len(proto.tensor_content)} bytes, "
                f"shape {list(shape)} of {kind.name} needs {count * kind.numpy.itemsize}"
            )
        return np.frombuffer(proto.tensor_content, dtype=kind.numpy).reshape(shape).copy()
    values = _typed_values(proto, kind)
    if len(values) == 0:
        filled = np.full(count, b"" if kind.dtype == types_pb2.DT_STRING else 0, dtype=kind.numpy)
    elif len(values) >= count:
        filled = values[:count]
    else:
        filled = np.concatenate([values, np.repeat(values[-1:], count - len(values))])
    return filled.reshape(shape)


def shape_of(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    """The fully defined shape a TensorProto declares (its values may be fewer, see above).

    Only the sizes are read, nothing is allocated: a shape of more than 2^63-1 elements is
    refused here, as TensorFlow's `TensorShape::IsValid` does.
    """
    shape = proto.tensor_shape
    sizes = tuple(d.size for d in shape.dim)
    if shape.unknown_rank or (sizes and min(sizes) < 0):
        raise TensorError("tensor shape must be fully defined")
    if len(sizes) > MAX_RANK:
        raise TensorError(f"tensor rank {len(sizes)} exceeds {MAX_RANK}")
    if math.prod(sizes) > MAX_ELEMENTS:
        raise TensorError(f"tensor shape {list(sizes)} has more than 2^63-1 elements")
    return sizes


def _decode_string_list(content: bytes, count: int) -> list[bytes]:
    """`count` strings from TensorFlow's encoding: `count` varint lengths, then the bytes.

    Each length takes at least one byte, so a count over the content's length is refused before
    anything is read (a huge declared shape over a few bytes allocates nothing).
    """
    if count > len(content):
        raise TensorError(f"tensor_content of {len(content)} bytes cannot hold {count} strings")
    lengths, offset = [], 0
    for _ in range(count):
        length, shift = 0, 0
        while True:
            if offset >= len(content) or shift > 28:
                raise TensorError("tensor_content holds a malformed string length")
            byte = content[offset]
            offset += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        lengths.append(length)
    if sum(lengths) != len(content) - offset:
        raise TensorError(
            f"tensor_content's strings need {sum(lengths)} bytes, it holds {len(content) - offset}"
        )
    strings = []
    for length in lengths:
        strings.append(content[offset : offset + length])
        offset += length
    return strings


def _typed_values(proto: tensor_pb2.TensorProto, kind: TensorKind) -> np.ndarray:
    field = getattr(proto, kind.field)
    if kind.dtype == types_pb2.DT_STRING:
        return np.array(list(field), dtype=object)
    if kind.dtype in _HALF_BITS:
        return np.asarray(field, dtype=np.uint16).view(kind.numpy)
    if kind.field in ("scomplex_val", "dcomplex_val"):
        pairs = np.asarray(field, dtype=kind.numpy).reshape(-1, 2) if len(field) % 2 == 0 else None
        if pairs is None:
            raise TensorError(f"{kind.field} holds an odd number of values")
        return pairs[:, 0] + 1j * pairs[:, 1].astype(kind.numpy)
    return np.asarray(field).astype(kind.numpy)
