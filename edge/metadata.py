"""TFLite Model Metadata inside the `.tflite` files, so MediaPipe Tasks needs nothing but the file.

MediaPipe's ImageClassifier (Android, iOS, web, Python) and LiteRT's support library read the
labels, the image size and colour space and the input normalization from the file itself. The
writer, tflite-support 0.4.4, needs numpy<2, so it lives in a helper venv of its own
(`make metadata-venv` makes `.venv-metadata`) and `edge/write_metadata.py` runs there as a
subprocess. Without that venv the files are written without metadata, saying so once.

Normalization: our models take raw pixels in [0, pixel_max] and rescale them themselves, while
MediaPipe feeds (pixel − mean) / std of 0..255 pixels; so mean 0 and std 255 / pixel_max (1 for
photos), with the range [0, pixel_max] recorded in the input's stats.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRITER = Path(__file__).with_name("write_metadata.py")
VENV_PYTHON_ENV = "TFMODEL_METADATA_PYTHON"  # another venv's python with tflite-support
VENV_PYTHON = ROOT / ".venv-metadata" / "bin" / "python"
VERSION = "1"


def writer_python() -> Path | None:
    """The helper venv's python, or None when it is not made (`make metadata-venv`)."""
    path = Path(os.environ.get(VENV_PYTHON_ENV) or VENV_PYTHON)
    return path if path.is_file() else None


def describe(
    name: str, labels: list[str], input_shape: tuple[int, ...], pixel_max: float
) -> dict[str, Any] | None:
    """What to write for an image classifier file, or None for a non-image input."""
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        return None
    height, width, channels = input_shape
    return {
        "name": name,
        "description": f"{name}: an image classifier trained by tfmodel; takes "
        f"{width}×{height} {'RGB' if channels == 3 else 'grey'} raw pixels in [0, {pixel_max:g}] "
        "and returns softmax probabilities, one per label",
        "version": VERSION,
        "author": "tfmodel",
        "license": "as the training data and code it came from",
        "labels": list(labels),
        "width": width,
        "height": height,
        "color_space": "RGB" if channels == 3 else "GRAYSCALE",
        "mean": [0.0],
        "std": [255.0 / pixel_max],
        "min": 0.0,
        "max": float(pixel_max),
        "input_description": f"raw pixels in [0, {pixel_max:g}]; the model rescales them itself",
    }


def embed_metadata(path: Path, info: dict[str, Any]) -> bool:
    """Write `info` into the `.tflite` at `path`; False (and the file unchanged) without the venv.

    `info` is `describe`'s, optionally with the file's "variant" (added to its description).
    """
    python = writer_python()
    if python is None:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(info, handle)
    try:
        done = subprocess.run(
            [str(python), str(WRITER), str(path), handle.name],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{WRITER.name} failed on {path} (exit {done.returncode})")
    return True


def missing_writer_note() -> str:
    """The one line said when files are written without metadata."""
    return (
        f"no metadata written into the .tflite files: {VENV_PYTHON} is missing "
        "(`make metadata-venv` makes it); MediaPipe Tasks needs the metadata"
    )
