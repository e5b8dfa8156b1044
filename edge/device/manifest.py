"""The files that travel with the `.tflite` models: model.json, labels.txt and samples.npz.

model.json is what the edge runtime (and phone code) reads: the model's name and version, the input
spec, the preprocessing, the output, the labels and, per file, its variant, tensor dtypes and
quantization parameters and its sha256, which the runtime checks before loading (and, for an
encrypted file, the cipher and key id: `edge.device.crypto`). samples.npz holds a few test examples
with their labels and the float Keras model's probabilities, so a device can check its own answers.
Like the runtime, this module imports no TensorFlow: the device check reads samples.npz with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.device.names import MANIFEST, SIGNATURE
from edge.device.runtime import EdgeModel, sha256_of

FORMAT_VERSION = 1
LABELS_FILE = "labels.txt"
SAMPLES_FILE = "samples.npz"


@dataclass(frozen=True)
class ModelIdentity:
    """Which model and build the folder holds: encrypted files are bound to it
    (edge.device.crypto)."""

    name: str  # the SavedModel's name under the export base, e.g. digits_mlp
    version: str  # the run folder's name, e.g. digits_mlp-20250101-120000


@dataclass(frozen=True)
class ModelFile:
    """One exported `.tflite`: which variant it is and how it was quantized."""

    path: Path
    variant: str
    quantizer: str | None
    sparsity: float


def describe_file(item: ModelFile) -> dict[str, Any]:
    """model.json's entry for one file: variant, size, sha256 and its tensors' dtypes/scales."""
    specs = EdgeModel(item.path, verify=False).tensor_specs()
    content = item.path.read_bytes()
    return {
        "variant": item.variant,
        "quantizer": item.quantizer,
        "kernel_sparsity": round(item.sparsity, 4),
        "bytes": len(content),
        "sha256": sha256_of(content),
        "input": specs["input"],
        "output": specs["output"],
    }


def write_manifest(
    out_dir: Path,
    files: list[ModelFile],
    labels: list[str],
    input_shape: tuple[int, ...],
    pixel_max: float,
    model: ModelIdentity,
) -> dict[str, Any]:
    """Write model.json and labels.txt into `out_dir` and return model.json's content."""
    channels = input_shape[-1] if len(input_shape) == 3 else None
    entries = {item.path.name: describe_file(item) for item in files}
    first = next(iter(entries.values()))
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": asdict(model),
        "signature": SIGNATURE,
        "input": {
            "name": first["input"]["name"],
            "shape": [-1, *input_shape],
            "layout": "NHWC" if channels else "N...",
            "color": {1: "grayscale", 3: "rgb"}.get(channels),
            "pixel_max": float(pixel_max),
        },
        "preprocessing": (
            f"none beyond raw pixel values in [0, {pixel_max:g}], as in training (the model "
            f"rescales them itself); an 8-bit image is resized to {input_shape[:2]} and "
            f"multiplied by {pixel_max:g}/255. int8 files take int8: q = round(x / scale) + "
            "zero_point, with the file's input scale and zero_point below."
        ),
        "output": {
            "name": first["output"]["name"],
            "shape": [-1, len(labels)],
            "meaning": "softmax probabilities, one per label in labels order; int8 files give "
            "int8: x = (q - zero_point) * scale with the file's output scale and zero_point",
        },
        "labels": list(labels),
        "files": entries,
        "samples": SAMPLES_FILE,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / LABELS_FILE).write_text("".join(f"{label}\n" for label in labels))
    return manifest


def write_samples(
    out_dir: Path, x: np.ndarray, y: np.ndarray, keras_probabilities: np.ndarray
) -> Path:
    """samples.npz: raw-pixel examples `x`, labels `y` and the Keras model's `probabilities`."""
    path = out_dir / SAMPLES_FILE
    np.savez_compressed(
        path,
        x=x.astype(np.float32),
        y=y.astype(np.int64),
        probabilities=keras_probabilities.astype(np.float32),
    )
    return path
