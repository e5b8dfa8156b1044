"""TF Serving's REST bodies: JSON requests into request protos, response protos into JSON text.

Predict takes row-format `instances` (one entry per example, an object per example when the
signature has several inputs) or columnar `inputs`, and answers `predictions` or `outputs` in the
same format (Classify and Regress bodies are in `serving.server.frontend.rest_examples`). Errors are
`{"error": message}`; status and metadata are protos printed as JSON. Messages match TF Serving's.
"""

import base64
import enum
import json

import numpy as np
import orjson
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.server.frontend.json_writer import JsonWriter, format_decimal
from serving.server.status import invalid_argument
from serving.tensors import TensorError, kind_of_numpy, make_ndarray, make_tensor_proto
from serving.tensors_json import is_b64_object, json_debug_string, json_value_to_ndarray


class PredictFormat(enum.Enum):
    """How a Predict request gave its tensors; the response uses the same layout."""

    ROW = "instances"
    COLUMNAR = "inputs"


def parse_json_object(body: bytes) -> dict:
    """The request body as a JSON object, or INVALID_ARGUMENT with TF Serving's parse errors.

    orjson parses first: a 96×96×3 image's 27,648 numbers take it ~3 ms where `json` takes
    ~15 ms. What it refuses (NaN/Infinity, numbers past a double, not UTF-8, broken text) is
    parsed again by `json`, whose answers and error messages are the contract. An integer past
    64 bits it reads as a double, as TF Serving's rapidjson does.
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = _parse_with_json(body)
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {json_debug_string(document)} Is not object")
    return document


def _parse_with_json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        offset = getattr(error, "pos", 0)
        raise invalid_argument(f"JSON Parse error: {error} at offset: {offset}") from error


def signature_name_of(document: dict) -> str:
    """The optional `signature_name` of a request body ("" when absent)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def parse_predict_inputs(document: dict, input_infos) -> tuple[dict, PredictFormat]:
    """The input TensorProtos of a Predict body, typed by the signature's inputs (alias → info)."""
    if not input_infos:
        name = document.get("signature_name") or "DEFAULT"
        raise invalid_argument(f"Failed to get input map for signature: {name}")
    dtypes = {alias: info.dtype for alias, info in input_infos.items()}
    if "instances" in document and "inputs" in document:
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} Not formatted correctly expecting only "
            "one of 'inputs' or 'instances' keys to exist "
        )
    try:
        if "instances" in document:
            arrays = _parse_instances(document, dtypes)
            layout = PredictFormat.ROW
        elif "inputs" in document:
            arrays = _parse_columns(document["inputs"], dtypes)
            layout = PredictFormat.COLUMNAR
        else:
            raise invalid_argument("Missing 'inputs' or 'instances' key")
    except TensorError as error:
        raise invalid_argument(str(error)) from error
    protos = {name: make_tensor_proto(array, dtypes[name]) for name, array in arrays.items()}
    return protos, layout


def _parse_instances(document: dict, dtypes: dict) -> dict[str, np.ndarray]:
    instances = document["instances"]
    if not isinstance(instances, list):
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} Expecting 'instances' to be an list/array"
        )
    if not instances:
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} No values in 'instances' array"
        )
    as_objects = isinstance(instances[0], dict) and not is_b64_object(instances[0])
    if not isinstance(instances[0], dict) and len(dtypes) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    rows: dict[str, list[np.ndarray]] = {}
    for index, item in enumerate(instances):
        is_object = isinstance(item, dict) and not is_b64_object(item)
        if as_objects and not is_object:
            raise invalid_argument(f"Expecting object but got list at item {index} of input list")
        if not as_objects and is_object:
            raise invalid_argument(
                f"Expecting value/list but got object at item {index} of input list"
            )
        named = item if as_objects else {next(iter(dtypes)): item}
        for name, value in named.items():
            where = f" key: {name}" if as_objects else ""
            try:
                rows.setdefault(name, []).append(_instance_item(name, value, dtypes, rows))
            except TensorError as error:
                raise invalid_argument(
                    f"Failed to process element: {index}{where} of 'instances' list. "
                    f"Error: INVALID_ARGUMENT: {error}"
                ) from error
        if as_objects and set(item) != set(dtypes):
            raise invalid_argument(
                f"Failed to process element: {index} of 'instances' list. JSON object: "
                f"{json_debug_string(item)} keys must be equal to: {','.join(sorted(dtypes))}"
            )
    return {name: np.stack(items) for name, items in rows.items()}


def _instance_item(name: str, value, dtypes: dict, rows: dict) -> np.ndarray:
    if name not in dtypes:
        raise TensorError(f"JSON object: does not have named input: {name}")
    array = json_value_to_ndarray(value, dtypes[name])
    if rows.get(name):
        first = rows[name][0]
        if first.size != array.size:
            raise TensorError(f"Expecting tensor size: {first.size} but got: {array.size}")
        if first.shape != array.shape:
            raise TensorError(
                f"Expecting shape {_shape_text(first.shape)} but got: {_shape_text(array.shape)}"
            )
    return array


def _shape_text(shape) -> str:
    return "[" + ",".join(str(size) for size in shape) + "]"


def _parse_columns(value, dtypes: dict) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_b64_object(value):
        if len(dtypes) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        name = next(iter(dtypes))
        return {name: json_value_to_ndarray(value, dtypes[name])}
    arrays = {}
    for name, dtype in dtypes.items():
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_value_to_ndarray(value[name], dtype)
    return arrays


def write_predict_response(outputs, layout: PredictFormat) -> str:
    """`{"predictions": [...]}` (row) or `{"outputs": ...}` (columnar) from output TensorProtos."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    arrays = {name: make_ndarray(outputs[name]) for name in sorted(outputs)}
    writer = JsonWriter()
    writer.start_object()
    writer.key("predictions" if layout is PredictFormat.ROW else "outputs")
    named = len(arrays) > 1
    if layout is PredictFormat.ROW:
        batch = _batch_size(arrays)
        writer.start_array()
        for row in range(batch):
            if named:
                writer.start_object()
            writer.single_line_arrays = True
            for name, array in arrays.items():
                if named:
                    writer.key(name)
                _write_tensor(writer, array[row], name.endswith("_bytes"))
            writer.single_line_arrays = False
            if named:
                writer.end_object()
        writer.end_array()
    else:
        if named:
            writer.start_object()
        for name, array in arrays.items():
            if named:
                writer.key(name)
            _write_tensor(writer, array, name.endswith("_bytes"))
        if named:
            writer.end_object()
    writer.end_object()
    return writer.text()


def _batch_size(arrays: dict[str, np.ndarray]) -> int:
    batch = None
    for name, array in arrays.items():
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}"
            )
        batch = array.shape[0]
    return batch or 0


def _write_tensor(writer: JsonWriter, array, as_bytes: bool) -> None:
    if not isinstance(array, np.ndarray | np.generic):
        array = np.array(array, dtype=object)  # an item of a string tensor: bytes
    if array.ndim:
        writer.start_array()
        for item in array:
            _write_tensor(writer, item, as_bytes)
        writer.end_array()
    elif array.dtype == object and as_bytes:
        writer.start_object()
        writer.key("b64")
        writer.string(base64.b64encode(array.item()).decode("ascii"))
        writer.end_object()
    else:
        writer.raw(_scalar_text(array))


def _scalar_text(value: np.ndarray) -> str:
    """One value as TF Serving writes it; half, bfloat16 and complex have no JSON form there."""
    if value.dtype == object:
        return json.dumps(value.item().decode("utf-8", errors="replace"), ensure_ascii=False)
    if value.dtype in (np.float32, np.float64):
        return format_decimal(float(value), float32=value.dtype == np.float32)
    if value.dtype == np.bool_:
        return "true" if value else "false"
    if value.dtype.kind in "iu":
        return str(value.item())
    name = kind_of_numpy(value.dtype).name
    raise invalid_argument(f"Failed to write JSON value for tensor type: {name}")


def write_error(message: str) -> str:
    """`{"error": message}`, TF Serving's body for every failed REST request."""
    writer = JsonWriter()
    writer.start_object()
    writer.key("error")
    writer.string(message)
    writer.end_object()
    return writer.text()


def write_proto(message) -> str:
    """A response proto as TF Serving prints status: field names as in the .proto, defaults kept."""
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        indent=1,
    )


def write_model_metadata(response) -> str:
    """GetModelMetadata as REST shows it: the SignatureDefMap under `metadata.signature_def`."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return (
        "{\n"
        f'"model_spec":{write_proto(response.model_spec)},\n'
        f'"metadata": {{"signature_def": {write_proto(signatures)}}}\n'
        "}\n"
    )
