"""Tensors as TF Serving's REST API reads and writes them: JSON values ↔ numpy.

In JSON a tensor is a dense nested list, its shape read from the first element at each level;
bytes are written `{"b64": "<base64>"}`. Values are checked, and refused with the messages, as
TF Serving's REST API does. The dtypes are `serving.tensors`'; like it, this module keeps no state,
so the client and the server share it.
"""

import base64
import binascii
import itertools
import json

import numpy as np

from serving.apis import types_pb2
from serving.tensors import MAX_RANK, TensorError, TensorKind, as_array, kind_of

_MAX_DEBUG_CHARS = 256  # TF Serving truncates JSON quoted in error messages to 256 bytes


def json_debug_string(value) -> str:
    """A JSON value quoted in an error message, truncated as TF Serving does."""
    return json.dumps(value)[:_MAX_DEBUG_CHARS]


def is_b64_object(value) -> bool:
    """Whether a JSON value is TF Serving's bytes form `{"b64": "<base64>"}` (its only key)."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_b64_object(value) -> bytes:
    """The bytes of a `{"b64": ...}` JSON object."""
    if not is_b64_object(value):
        raise TensorError(
            f"JSON Value: {json_debug_string(value)} not formatted correctly for base64 data"
        )
    try:
        return base64.b64decode(value["b64"], validate=True)
    except binascii.Error as error:
        raise TensorError("Unable to base64 decode") from error


def json_value_to_ndarray(value, dtype: int) -> np.ndarray:
    """A dense JSON value (scalar or nested lists) as an array of `dtype`, with TF Serving's checks.

    The shape comes from the first element at each level; every list must match it, leaves must be
    of the dtype's JSON type (numbers for floats, integers for ints, strings or b64 objects for
    strings), exactly as TF Serving's REST API parses `instances` and `inputs`.
    """
    kind = kind_of(dtype)
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    if len(shape) > MAX_RANK:
        raise TensorError(f"JSON value nests {len(shape)} lists, over the rank limit {MAX_RANK}")
    array = _dense_numbers(value, shape, kind)
    if array is not None:
        return array
    leaves: list = []
    _collect_leaves(value, 0, shape, kind, leaves)
    if kind.dtype == types_pb2.DT_STRING:
        return np.array(leaves, dtype=object).reshape(shape)
    return np.array(leaves, dtype=kind.numpy).reshape(shape)


def _dense_numbers(value, shape: list, kind: TensorKind) -> np.ndarray | None:
    """The array of a well-formed numeric JSON value, else None (`_collect_leaves` then finds
    what is wrong and says it).

    The same checks as `_collect_leaves`, one level at a time with C-speed map/chain instead of
    a Python call per leaf: a 96×96×3 image's 27,648 leaves take ~5 ms here, ~130 ms there.
    Bools and strings always take the slow path (a bool is not a number to TF Serving).
    """
    number_types = {"float_val": {int, float}, "double_val": {int, float}}.get(kind.field)
    if kind.field in _JSON_INT_RANGES:
        number_types = {int}
    if number_types is None:
        return None
    items = [value]
    for size in shape:
        if set(map(type, items)) != {list} or set(map(len, items)) != {size}:
            return None
        items = list(itertools.chain.from_iterable(items))
    if not set(map(type, items)) <= number_types:
        return None
    if kind.field in _JSON_INT_RANGES:
        low, high = _JSON_INT_RANGES[kind.field]
        if items and (min(items) < low or max(items) > high):
            return None
    try:
        return np.array(items, dtype=kind.numpy).reshape(shape)
    except OverflowError:  # an int past float's range: refused with TF Serving's message
        return None


def _collect_leaves(value, level: int, shape: list, kind: TensorKind, leaves: list) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise TensorError(
                f"JSON Value: {json_debug_string(value)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {len(shape)}"
            )
        leaves.append(_json_leaf(value, kind))
        return
    if level >= len(shape):
        raise TensorError(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise TensorError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _collect_leaves(item, level + 1, shape, kind, leaves)


def _json_leaf(value, kind: TensorKind):
    if kind.dtype == types_pb2.DT_STRING and isinstance(value, dict):
        return decode_b64_object(value)
    if kind.dtype == types_pb2.DT_STRING:
        accepted = isinstance(value, str)
        value = value.encode() if accepted else value
    elif kind.field == "bool_val" or isinstance(value, bool):
        accepted = kind.field == "bool_val" and isinstance(value, bool)
    elif kind.field in ("float_val", "double_val"):
        accepted = isinstance(value, (int, float))
        if accepted and isinstance(value, int) and abs(value) >= 2**1024:
            raise TensorError("JSON Parse error: Number too big to be stored in double")
    elif kind.field in _JSON_INT_RANGES:
        low, high = _JSON_INT_RANGES[kind.field]
        accepted = isinstance(value, int) and low <= value <= high
    else:
        raise TensorError(
            f"Conversion of JSON Value: {json_debug_string(value)} to type: {kind.name}"
        )
    if not accepted:
        raise TensorError(
            f"JSON Value: {json_debug_string(value)} Type: {json_type_name(value)} "
            f"is not of expected type: {kind.name}"
        )
    return value


# The integer range rapidjson accepts for each typed field (IsInt, IsInt64, IsUint, IsUint64).
_JSON_INT_RANGES = {
    "int_val": (-(2**31), 2**31 - 1),
    "int64_val": (-(2**63), 2**63 - 1),
    "uint32_val": (0, 2**32 - 1),
    "uint64_val": (0, 2**64 - 1),
}


def json_type_name(value) -> str:
    """rapidjson's name for a JSON value's type ("Number", "String", …), as in TF messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def ndarray_to_json_value(array: np.ndarray, as_bytes: bool = False):
    """An array as a JSON value (nested lists); bytes as `{"b64": ...}` when `as_bytes` is set.

    Without `as_bytes` bytes are decoded as UTF-8 text, as TF Serving writes string tensors whose
    name does not end in `_bytes`.
    """
    array = as_array(array)
    if array.dtype == np.float16 or array.dtype.name == "bfloat16":
        return array.astype(np.float32).tolist()
    if array.dtype != object:
        return array.tolist()
    encode = (
        (lambda b: {"b64": base64.b64encode(b).decode("ascii")})
        if as_bytes
        else (lambda b: b.decode("utf-8", errors="replace"))
    )
    return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()
