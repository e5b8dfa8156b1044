"""What the client sends: tf.Examples built from features, and inputs read from files.

For the CLI, each `--input` is `[NAME=]FILE`. For Predict, NAME is the signature's input key
(optional for a one-input signature); for Classify/Regress it is the tf.Example feature each row
of an array or image becomes. An image sent to a string input (a `serving_bytes` signature) goes
as its encoded bytes, turned upright first when its EXIF tag says it is stored rotated. JSON may
be a TF Serving request body (`instances`, `inputs` or `examples`) or a bare value, parsed with
the signature's dtype as TF Serving's REST API does.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving import tensors, tensors_json
from serving.apis import example_pb2, feature_pb2, input_pb2, meta_graph_pb2, types_pb2
from serving.client.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_GRAY_MODES = {"1", "L", "I", "I;16", "F"}


def split_input_spec(spec: str) -> tuple[str | None, Path]:
    """`NAME=FILE` → (NAME, FILE); a bare FILE (even one with `=` in its name) → (None, FILE)."""
    name, sep, path = spec.partition("=")
    if sep and name and not Path(spec).exists():
        return name, Path(path)
    return None, Path(spec)


def make_example(features: Mapping[str, Any]) -> example_pb2.Example:
    """A tf.Example from {name: values}: text/bytes, integers, or floats (anything else)."""
    example = example_pb2.Example()
    for name, values in features.items():
        # An object array keeps bytes whole (a numpy bytes array drops trailing NULs).
        items = np.ravel(np.array(values, dtype=object)).tolist()
        feature = example.features.feature[name]
        if all(isinstance(v, (bytes, str)) for v in items):
            encoded = [v.encode() if isinstance(v, str) else v for v in items]
            feature.bytes_list.CopyFrom(feature_pb2.BytesList(value=encoded))
        elif all(isinstance(v, (int, np.integer)) for v in items):
            feature.int64_list.CopyFrom(feature_pb2.Int64List(value=items))
        else:
            feature.float_list.CopyFrom(feature_pb2.FloatList(value=items))
    return example


def make_input(examples: Sequence[Mapping[str, Any]]) -> input_pb2.Input:
    """The `input` of a Classify/Regress request: a list of tf.Examples."""
    if len(examples) == 0:
        raise UsageError("no examples to send: give at least one")
    listed = input_pb2.ExampleList(examples=[make_example(e) for e in examples])
    return input_pb2.Input(example_list=listed)


def sole_input_name(signature: meta_graph_pb2.SignatureDef, signature_name: str) -> str:
    """The input key of a one-input signature, so a bare array can be sent to it."""
    names = sorted(signature.inputs)
    if len(names) != 1:
        raise UsageError(
            f"signature {signature_name or 'serving_default'!r} takes inputs {names}: "
            "name each one (NAME=FILE, or a dict of arrays)"
        )
    return names[0]


def load_predict_inputs(
    specs: Sequence[str],
    signature: meta_graph_pb2.SignatureDef,
    signature_name: str = "",
    pixel_range: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Arrays by input key; several files for one key are stacked along the batch axis.

    Images are scaled from 0..255 to `pixel_range` (the model's training range) when given.
    """
    parts: dict[str, list[np.ndarray]] = {}
    for spec in specs:
        name, path = split_input_spec(spec)
        _check_file(path)
        if path.suffix.lower() == ".json":
            loaded = _read_json_inputs(path, name, signature, signature_name)
        else:
            key = name or sole_input_name(signature, signature_name)
            if key not in signature.inputs:
                raise UsageError(
                    f"--input {spec}: the signature has no input {key!r}; "
                    f"its inputs are {', '.join(signature.inputs)}"
                )
            info = signature.inputs[key]
            if path.suffix == ".npy":
                array = _load_npy(path, info)
            elif info.dtype == types_pb2.DT_STRING:
                array = np.array([upright_image_bytes(path)], dtype=object)
            else:
                array = _scaled(_read_array(path, info)[np.newaxis], pixel_range)
            loaded = {key: _cast(array, info.dtype, spec)}
        for key, array in loaded.items():
            parts.setdefault(key, []).append(array)
    return {key: np.concatenate(arrays) for key, arrays in parts.items()}


def load_examples(
    specs: Sequence[str], pixel_range: tuple[float, float] | None = None
) -> list[dict[str, Any]]:
    """tf.Example features ({feature: values}) from JSON examples, or `FEATURE=` arrays/images
    (images scaled to `pixel_range` when given)."""
    examples: list[dict[str, Any]] = []
    for spec in specs:
        name, path = split_input_spec(spec)
        _check_file(path)
        if path.suffix.lower() == ".json":
            examples.extend(_read_json_examples(path))
            continue
        if name is None:
            raise UsageError(f"--input {spec}: name the tf.Example feature, as FEATURE={path}")
        if path.suffix == ".npy":
            rows = _load_npy(path, None)
        else:
            rows = _scaled(_read_array(path, None)[np.newaxis], pixel_range)
        examples.extend({name: row.ravel()} for row in rows)
    return examples


def check_input_files(specs: Sequence[str]) -> None:
    """Fails on a missing or unreadable kind of `--input` file before anything is sent."""
    for spec in specs:
        _check_file(split_input_spec(spec)[1])


EXIF_ORIENTATION = 0x0112


def upright_image_bytes(path: Path) -> bytes:
    """The file's bytes as they are, or re-encoded as PNG upright when its EXIF orientation
    says it is stored rotated (a server decoding bytes does not read EXIF)."""
    from PIL import Image, ImageOps  # here: a client sending no image does not pay its import

    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
                return data
            upright = ImageOps.exif_transpose(image)
    except OSError as err:
        raise UsageError(f"input file {path} is not a readable image ({err})") from None
    encoded = io.BytesIO()
    upright.save(encoded, "PNG")
    return encoded.getvalue()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"input file {path} does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES | {".npy", ".json"}:
        raise UsageError(f"input file {path}: use a .npy array, a .json file or an image")


def _load_npy(path: Path, info: meta_graph_pb2.TensorInfo | None) -> np.ndarray:
    """A .npy batch, checked against the input's known dimensions (all but the batch's)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UsageError(f"input file {path} is not a readable .npy array ({err})") from None
    sizes = [] if info is None or info.tensor_shape.unknown_rank else info.tensor_shape.dim
    expected = [d.size for d in sizes]
    if expected and (
        array.ndim != len(expected)
        or any(want > 0 and got != want for got, want in zip(array.shape, expected, strict=True))
    ):
        shape = "(N, " + ", ".join(str(s) if s > 0 else "?" for s in expected[1:]) + ")"
        raise UsageError(
            f"input file {path} holds an array shaped {array.shape}; the input takes {shape}"
        )
    return array


def _scaled(pixels: np.ndarray, pixel_range: tuple[float, float] | None) -> np.ndarray:
    """8-bit pixels (0..255) mapped onto the model's training range (unchanged without one)."""
    if pixel_range is None:
        return pixels
    low, high = pixel_range
    return low + pixels * ((high - low) / 255.0)


def _read_array(path: Path, info: meta_graph_pb2.TensorInfo | None) -> np.ndarray:
    """An image as 8-bit pixels (one example, no batch axis), fitted to the input's H, W, C."""
    dims = [] if info is None or info.tensor_shape.unknown_rank else info.tensor_shape.dim
    sizes = [d.size for d in dims]
    channels = sizes[3] if len(sizes) == 4 else -1
    from PIL import Image  # here: a client sending no image does not pay its import (60 ms)

    try:
        with Image.open(path) as image:
            mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(
                channels, "L" if image.mode in _GRAY_MODES else "RGB"
            )
            image = image.convert(mode)
            if len(sizes) >= 3 and sizes[1] > 0 and sizes[2] > 0:
                image = image.resize((sizes[2], sizes[1]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise UsageError(f"input file {path} is not a readable image ({err})") from None
    return array[..., np.newaxis] if array.ndim == 2 and len(sizes) == 4 else array


def _cast(array: np.ndarray, dtype: int, spec: str) -> np.ndarray:
    try:
        kind = tensors.kind_of(dtype)
        return tensors.as_array(array).astype(kind.numpy)
    except (tensors.TensorError, ValueError) as err:
        raise UsageError(f"--input {spec}: {err}") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"input file {path} is not valid JSON: {err}") from None


def _read_json_inputs(
    path: Path, name: str | None, signature: meta_graph_pb2.SignatureDef, signature_name: str
) -> dict[str, np.ndarray]:
    """A TF Serving Predict body (`instances` rows or `inputs` columns) or one bare value."""
    body = _read_json(path)
    is_body = isinstance(body, dict) and ("instances" in body or "inputs" in body)
    if is_body and _names_its_inputs(body):
        rows = body.get("instances")
        values = (
            {key: [row.get(key) for row in rows] for key in rows[0]} if rows else body["inputs"]
        )
    else:
        value = body.get("instances", body.get("inputs")) if is_body else body
        values = {name or sole_input_name(signature, signature_name): value}
    arrays = {}
    for key, value in values.items():
        if key not in signature.inputs:
            raise UsageError(
                f"{path}: the signature has no input {key!r}; its inputs are "
                f"{', '.join(signature.inputs)} (name one as NAME={path})"
            )
        try:
            arrays[key] = tensors_json.json_value_to_ndarray(value, signature.inputs[key].dtype)
        except tensors.TensorError as err:
            raise UsageError(f"{path}: input {key!r}: {err}") from None
    return arrays


def _names_its_inputs(body: dict[str, Any]) -> bool:
    """Whether a Predict body keys its values by input name (rows or columns as objects)."""
    rows, columns = body.get("instances"), body.get("inputs")
    if isinstance(rows, list) and rows:
        return all(isinstance(row, dict) and not tensors_json.is_b64_object(row) for row in rows)
    return isinstance(columns, dict) and not tensors_json.is_b64_object(columns)


def _read_json_examples(path: Path) -> list[dict[str, Any]]:
    """`{"examples": [...], "context": {...}}` or a bare list of examples, b64 decoded."""
    body = _read_json(path)
    examples = body.get("examples") if isinstance(body, dict) else body
    context = body.get("context", {}) if isinstance(body, dict) else {}
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise UsageError(f'{path}: give a list of examples, e.g. {{"examples": [{{"x": 2.0}}]}}')
    return [
        {key: _decode_b64(value) for key, value in {**context, **example}.items()}
        for example in examples
    ]


def _decode_b64(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if tensors_json.is_b64_object(value):
        return base64.b64decode(value["b64"])
    return value
