"""Run an exported `.tflite` with nothing but numpy, a TFLite interpreter and (for images) Pillow.

This module is what a Raspberry Pi or any other device runs, so it imports no TensorFlow and no
`tfmodel` (TensorFlow's `tf.lite` is only the last interpreter fallback). The interpreter comes from
`ai_edge_litert`, else `tflite_runtime`, else `tensorflow`. `model.json` beside the file gives the
labels, the preprocessing and each file's sha256, which is checked before loading; with a
`verify_key`, the signature of the folder (`edge.device.signature`) is checked first. An encrypted
file (`edge.device.crypto`) is decrypted in memory with `decrypt_key` and handed to the interpreter
as bytes.

Every model takes raw pixels in [0, pixel_max] through the signature `serving_default` (input
named as in model.json) and returns softmax probabilities. The int8 file devices use
(`model_int8.tflite`) has float32 input and output, quantizing inside the graph in C++, so it is
called like the float one; only an int8-I/O file (`model_int8_io.tflite`, for integer-only
targets) has its input quantized and its output dequantized here, with the file's own scale and
zero point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edge.device.crypto import open_model
from edge.device.errors import EdgeError
from edge.device.names import MANIFEST, SIGNATURE
from edge.device.quantize import Quantizer
from edge.device.quiet import held_stderr

# Import name → the PyPI distribution that provides it, in the order they are tried.
INTERPRETERS = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def find_interpreter(name: str = "auto") -> tuple[Any, str]:
    """The TFLite `Interpreter` class and its import name; "auto" takes the first that loads."""
    if name != "auto" and name not in INTERPRETERS:
        raise EdgeError(f"interpreter {name!r} is unknown: use auto, {', '.join(INTERPRETERS)}")
    failures = []
    for candidate in INTERPRETERS if name == "auto" else (name,):
        try:
            return _import_interpreter(candidate), candidate
        except ImportError as err:
            failures.append(f"{candidate}: {err}")
    raise EdgeError(
        f"no TFLite interpreter could be imported ({'; '.join(failures)}); "
        "install one with `pip install ai-edge-litert`"
    )


def _import_interpreter(name: str) -> Any:
    if name == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    elif name == "tflite_runtime":
        from tflite_runtime.interpreter import Interpreter
    else:
        import tensorflow as tf  # only when neither lightweight interpreter is installed

        Interpreter = tf.lite.Interpreter
    return Interpreter


def describe_interpreter(name: str) -> str:
    """E.g. `ai_edge_litert 2.3.0`: which interpreter package runs the model."""
    try:
        return f"{name} {metadata.version(INTERPRETERS[name])}"
    except metadata.PackageNotFoundError:
        return name


def sha256_of(content: bytes) -> str:
    """The hex sha256 of a file's bytes, as recorded in model.json."""
    return hashlib.sha256(content).hexdigest()


def read_manifest(model_path: Path) -> dict[str, Any] | None:
    """model.json from the model's folder, or None when there is none."""
    path = model_path.parent / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise EdgeError(
            f"{path} is not valid JSON ({err}); copy it again from the run's edge/ folder"
        ) from None


def verify_model_file(model_path: Path, content: bytes, manifest: dict[str, Any] | None) -> None:
    """Refuse a file whose sha256 differs from model.json's: it was damaged or swapped."""
    if manifest is None:
        raise EdgeError(
            f"no {MANIFEST} beside {model_path}, so its checksum cannot be verified; copy the "
            "whole edge/ folder of the run, or pass --no-verify to run the file unchecked"
        )
    entry = manifest.get("files", {}).get(model_path.name)
    if entry is None:
        raise EdgeError(
            f"{model_path.parent / MANIFEST} does not list {model_path.name}; use a file from "
            "the same edge/ folder, or pass --no-verify to run it unchecked"
        )
    actual = sha256_of(content)
    if actual != entry["sha256"]:
        raise EdgeError(
            f"{model_path} is damaged or not the exported file: its sha256 is {actual}, "
            f"{MANIFEST} expects {entry['sha256']}; copy the file again from the run's edge/ folder"
        )


class EdgeModel:
    """One `.tflite` file loaded for inference: raw pixels in, class probabilities out.

    An encrypted file needs `decrypt_key`, the key file (default: the file $TFMODEL_DECRYPT_KEY
    names); it is decrypted into memory, never onto the disk.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        num_threads: int | None = None,
        interpreter: str = "auto",
        verify: bool = True,
        verify_key: str | Path | None = None,
        decrypt_key: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise EdgeError(f"model file {self.path} does not exist; pass a .tflite file")
        content = self.path.read_bytes()
        if verify_key is not None:  # the signature first: model.json is only trusted once signed
            from edge.device.signature import verify_contents

            signed = {self.path.name: content}
            if (self.path.parent / MANIFEST).is_file():
                signed[MANIFEST] = (self.path.parent / MANIFEST).read_bytes()
            verify_contents(self.path.parent, Path(verify_key), signed)
        manifest = read_manifest(self.path)
        # Before the sha256: a file of another version fails both, and this names the reason.
        plain = open_model(self.path, content, manifest, decrypt_key)
        if verify:
            verify_model_file(self.path, content, manifest)
        interpreter_class, self.interpreter_name = find_interpreter(interpreter)
        # The interpreter logs from C++ ("INFO: Created TensorFlow Lite XNNPACK delegate for
        # CPU."): held, and shown in full if loading fails (edge.device.quiet).
        with held_stderr():
            self._load(interpreter_class, plain, num_threads)
        spec = (manifest or {}).get("input", {})
        self.pixel_max = float(spec.get("pixel_max", 255.0))
        num_classes = int(self._output["shape_signature"][-1])
        self.labels = list((manifest or {}).get("labels") or [str(i) for i in range(num_classes)])
        self.fitted_images: list[str] = []  # what load_inputs changed in images, for the user

    def _load(self, interpreter_class: Any, content: bytes, num_threads: int | None) -> None:
        """Make the interpreter from the file's bytes, find the signature, allocate one example."""
        try:
            self._interpreter = interpreter_class(model_content=content, num_threads=num_threads)
        except ValueError as err:
            if "Didn't find op" in str(err):  # e.g. tflite-runtime 2.14 and dynamic-range files
                raise EdgeError(
                    f"{self.path} uses an op version {describe_interpreter(self.interpreter_name)} "
                    f"does not have ({str(err).splitlines()[0]}); install a newer interpreter: "
                    "`pip install ai-edge-litert`"
                ) from None
            raise EdgeError(f"{self.path} is not a valid .tflite model: {err}") from None
        signatures = self._interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise EdgeError(
                f"{self.path} has no {SIGNATURE!r} signature (it has {list(signatures)}); "
                "export it with `python -m edge.optimize RUN_DIR`"
            )
        runner = self._interpreter.get_signature_runner(SIGNATURE)
        ((self.input_name, self._input),) = runner.get_input_details().items()
        ((self.output_name, self._output),) = runner.get_output_details().items()
        self.input_shape = tuple(int(d) for d in self._input["shape_signature"][1:])
        del runner  # it holds the interpreter's internals, which forbids resizing them
        self._prepare_calls()

    @property
    def takes_any_batch(self) -> bool:
        """Whether the file's batch dimension is free (-1), so `predict` takes batches of any
        size; a file saved with a fixed batch is safest fed that batch (one example)."""
        return int(self._input["shape_signature"][0]) == -1

    @property
    def input_dtype(self) -> str:
        """The dtype the model itself takes: `float32`, or `int8` for a fully quantized model."""
        return np.dtype(self._input["dtype"]).name

    def tensor_specs(self) -> dict[str, dict[str, Any]]:
        """The input and output tensors: name, dtype and (for integer tensors) scale, zero point."""
        return {
            "input": _tensor_spec(self.input_name, self._input),
            "output": _tensor_spec(self.output_name, self._output),
        }

    def integer_output(self) -> dict[str, Any] | None:
        """dtype, scale and zero point of the integer tensor behind the output, None for float.

        For an int8-I/O file that is the output itself; for a float-I/O int8 file, the input of
        the DEQUANTIZE op that makes the output, so a caller can compare int8 values exactly.
        """
        if np.dtype(self._output["dtype"]).kind != "f":
            return _tensor_spec(self.output_name, self._output)
        tensors = {t["index"]: t for t in self._interpreter.get_tensor_details()}
        # _get_ops_details is private, but every interpreter we take has it (tflite_runtime ≥ 2.5).
        for op in self._interpreter._get_ops_details():
            if op["op_name"] == "DEQUANTIZE" and self._output_index in op["outputs"]:
                source = tensors[op["inputs"][0]]
                return _tensor_spec(source["name"], {**source, "shape_signature": source["shape"]})
        return None

    def _prepare_calls(self) -> None:
        """Look up once what every `predict` needs: tensor indices, bound calls, quantization.

        `predict` then runs the interpreter directly (set_tensor, invoke, get_tensor) instead of
        the signature runner, whose per-call name lookups and shape checks cost ~10× `invoke`
        on a small model. The model's one signature is its primary subgraph. (A `tensor()` view
        to write the input or read the output measured no faster than set_tensor/get_tensor:
        making the view costs what their copy of a few hundred bytes does.)
        """
        interpreter = self._interpreter
        self._set_tensor, self._invoke = interpreter.set_tensor, interpreter.invoke
        self._get_tensor = interpreter.get_tensor
        self._input_index, self._output_index = self._input["index"], self._output["index"]
        try:
            self._input_quantizer = Quantizer(self._input)
            self._dequantize = Quantizer(self._output).dequantize
        except ValueError as err:
            raise EdgeError(f"{self.path}: {err}; export it with int8 quantization") from None
        self._allocate((1, *self.input_shape))

    def _allocate(self, batch_shape: tuple[int, ...]) -> None:
        """Size the interpreter, and the input's quantizing route, for batches `batch_shape`."""
        self._interpreter.resize_tensor_input(self._input_index, batch_shape)
        self._interpreter.allocate_tensors()
        self._batch_shape = batch_shape
        self._quantize = self._input_quantizer.route(batch_shape)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) as float32 for raw pixels shaped (N, *input_shape)."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self._batch_shape:
            x = self._fit_batch(x)
        self._set_tensor(self._input_index, self._quantize(x))
        self._invoke()
        return self._dequantize(self._get_tensor(self._output_index))

    def _fit_batch(self, x: np.ndarray) -> np.ndarray:
        """`x` as a batch, the interpreter resized to it (rare: a new batch size)."""
        if x.shape == self.input_shape:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            shape = ", ".join(map(str, self.input_shape))
            raise EdgeError(
                f"input shaped {x.shape} does not fit {self.path.name}, which takes "
                f"(N, {shape}) raw pixels in [0, {self.pixel_max:g}]"
            )
        if x.shape != self._batch_shape:
            self._allocate(x.shape)
        return x

    def load_inputs(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Raw-pixel arrays (N, *input_shape) from `.npy` files and images, in order."""
        return np.concatenate([self._load_input(Path(p)) for p in paths])

    def _load_input(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise EdgeError(f"input {path} does not exist; pass .npy files or images")
        if path.suffix.lower() == ".npy":
            return self._fit_array(path, np.load(path, allow_pickle=False))
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return read_image(path, self.input_shape, self.pixel_max, self.fitted_images)
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise EdgeError(f"input {path} is neither a .npy array nor an image ({kinds})")

    def _fit_array(self, path: Path, array: np.ndarray) -> np.ndarray:
        """(N, *shape) from one example or a batch; a missing single channel axis is added."""
        shape = self.input_shape
        if shape and shape[-1] == 1 and array.shape[-len(shape) + 1 :] == shape[:-1]:
            array = array[..., None]
        if array.shape == shape:
            return array[None].astype(np.float32)
        if array.shape[1:] == shape:
            return array.astype(np.float32)
        raise EdgeError(
            f"{path} holds an array shaped {array.shape}; the model takes one example shaped "
            f"{shape} or a batch (N, {', '.join(map(str, shape))}) of raw pixels"
        )


def read_image(
    path: Path, input_shape: tuple[int, ...], pixel_max: float, changes: list[str] | None = None
) -> np.ndarray:
    """An image file as one raw-pixel example (1, H, W, C): resized, gray or RGB, 0..pixel_max.

    What fitting it changed (colours, size) is appended to `changes`, e.g. "a.png: RGB to grey,
    28×28 to 8×8", so a caller can say so.
    """
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise EdgeError(
            f"the model takes inputs shaped {input_shape}, not images; pass {path.stem}.npy instead"
        )
    try:
        from PIL import Image
    except ImportError:
        raise EdgeError("reading images needs Pillow: `pip install pillow`") from None
    height, width, channels = input_shape
    try:
        with Image.open(path) as image:
            mode = "L" if channels == 1 else "RGB"
            done = []
            if image.mode != mode:
                done.append(f"{image.mode} to {'grey' if channels == 1 else 'RGB'}")
            if image.size != (width, height):
                done.append(f"{image.width}×{image.height} to {width}×{height}")
            if done and changes is not None:
                changes.append(f"{path}: {', '.join(done)}")
            image = image.convert(mode)
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32)
    except OSError as err:
        raise EdgeError(f"{path} is not a readable image: {err}") from None
    # 8-bit images span 0..255; the model expects the training data's 0..pixel_max.
    return (pixels * (pixel_max / 255.0)).reshape(1, height, width, channels)


def _tensor_spec(name: str, detail: dict[str, Any]) -> dict[str, Any]:
    spec = {"name": name, "dtype": np.dtype(detail["dtype"]).name}
    spec["shape"] = [int(d) for d in detail["shape_signature"]]
    if np.dtype(detail["dtype"]).kind != "f":
        scale, zero_point = detail["quantization"]
        spec.update(scale=float(scale), zero_point=int(zero_point))
    return spec
