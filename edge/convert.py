"""A model → `.tflite` bytes: float32, dynamic-range, float16 and full-integer int8.

The model is any TF-callable giving class probabilities of raw pixels (a tf_keras or Keras 3
model, a SavedModel's signature: `tfmodel.brought`'s description has one), converted from a
concrete function, so no step depends on the Keras that made it. Every file carries one
signature, `serving_default`, taking raw pixels under the model's input name and returning
`probabilities`, so phone code calls it by name and gets probabilities. Full-integer int8 comes
in two interfaces:
- `int8`: float32 input and output, the converter's default and what devices use: int8 weights
  and activations, with quantize/dequantize ops inside the graph (run in C++ by the interpreter),
  so the file is called exactly like the float32 one;
- `int8_io`: int8 input and output (scale and zero point in the file and in model.json), for
  integer-only targets (microcontrollers, Edge TPU).
Each is made two ways, calibrated on train-split examples: by the TFLite converter, and by
LiteRT's `litert-quantizer` from the float32 file; the caller keeps the better.
Conversion refuses a model with an op only TensorFlow's Flex (select TF ops) delegate runs, which
device runtimes lack (`FlexOpError`).
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.device.names import SIGNATURE
from edge.device.quiet import held_stderr
from tfmodel.backend import tf
from tfmodel.data import reading
from tfmodel.errors import UserError

OUTPUT_NAME = "probabilities"
KINDS = ("float32", "dynamic", "float16", "int8", "int8_io")


class FlexOpError(UserError):
    """The model has an op only the Flex (TF select) delegate runs; devices have no Flex."""


def serving_function(
    probabilities: Callable[[tf.Tensor], tf.Tensor], input_shape: Sequence[int], input_name: str
) -> tf.types.experimental.ConcreteFunction:
    """Raw pixels named `input_name` (any batch) → {"probabilities": probabilities(pixels)}."""
    spec = tf.TensorSpec([None, *input_shape], tf.float32, name=input_name)

    @tf.function(input_signature=[spec])
    def serve(pixels):
        return {OUTPUT_NAME: tf.cast(probabilities(pixels), tf.float32)}

    return serve.get_concrete_function()


def keras_probabilities(model: Any) -> Callable[[tf.Tensor], tf.Tensor]:
    """Softmax of a logits model's output, as the files give it (tfmodel's models give logits)."""
    return lambda pixels: tf.nn.softmax(tf.cast(model(pixels, training=False), tf.float32))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 then float32, as the exported files apply it to the logits."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def convert_model(
    model: Any, input_name: str, kind: str, calibration: np.ndarray | None = None
) -> bytes:
    """A logits Keras model (either Keras) as a `.tflite` of one `kind` (see convert_function)."""
    return convert_function(
        keras_probabilities(model), model.input_shape[1:], input_name, kind, calibration, model.name
    )


def convert_function(
    probabilities: Callable[[tf.Tensor], tf.Tensor],
    input_shape: Sequence[int],
    input_name: str,
    kind: str,
    calibration: np.ndarray | None = None,
    name: str = "the model",
) -> bytes:
    """`probabilities` (a TF-callable on raw pixels) as a `.tflite` of one `kind`; int8 needs
    `calibration` raw-pixel examples. Any callable converts alike: a Keras 3 or tf_keras model,
    a loaded SavedModel's signature."""
    function = serving_function(probabilities, input_shape, input_name)
    # A module tracking the function's variables makes the converter freeze them (a Keras 3
    # model as the tracked object leaves its variables' names as string tensors in the file) and
    # name the signature serving_default, keeping our tensor names.
    tracked = tf.Module()
    tracked.variables_used = list(function.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tracked)
    if kind == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind in ("int8", "int8_io"):
        if calibration is None:
            raise ValueError("int8 conversion needs calibration examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _calibration_feed(calibration, input_name)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if kind == "int8_io":  # else float32 I/O: the converter's default
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    elif kind != "float32":
        raise ValueError(f"unknown conversion {kind!r}; expected one of {KINDS}")
    # The converter prints its internals from C++ ("fully_quantize: 0, inference_type: 6 …"):
    # held, and shown in full only if the conversion fails.
    try:
        with warnings.catch_warnings(), held_stderr():
            # int8 calibration runs TF's deprecated tf.lite.Interpreter
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            return converter.convert()
    except Exception as err:  # ConverterError, whose text lists every op it could not place
        ops = flex_ops_in(str(err))
        if not ops:
            raise
        raise FlexOpError(
            f"{name} uses {', '.join(ops)}, which has no TFLite builtin: only the Flex "
            "(select TF ops) delegate runs it, and device runtimes lack Flex; replace it with "
            "builtin ops"
        ) from None


def flex_ops_in(converter_message: str) -> list[str]:
    """The TF ops a converter error says have no TFLite builtin, e.g. ["tf.Svd"]."""
    found = re.findall(r"'(tf\.\w+)' op is neither a custom op nor a flex op", converter_message)
    return list(dict.fromkeys(found))


def quantize_with_litert(
    float_tflite: bytes, input_name: str, calibration: np.ndarray, kind: str = "int8_io"
) -> bytes:
    """Full-integer int8 (int8 weights and activations) by litert-quantizer: int8 input/output
    (its recipe's default) for `int8_io`, float32 input/output for `int8` (its INPUT and OUTPUT
    left unquantized, so the file quantizes and dequantizes inside, as the converter's does)."""
    from litert_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(bytearray(float_tflite))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    if kind == "int8":
        for end in ("INPUT", "OUTPUT"):
            qt.update_quantization_recipe(".*", end, algorithm_key="no_quantize")
    feed = list(_calibration_feed(calibration, input_name))
    with warnings.catch_warnings():
        # Its interpreters warn that they keep every tensor (needed to calibrate). And a unit whose
        # weights were all pruned gets a zero weight scale, so its bias (bias / (input scale · 0))
        # becomes a NaN cast to int32; the unit is dead either way, and variants.choose_int8
        # measures the cost (mean |Δp| from the float model).
        warnings.filterwarnings("ignore", ".*experimental_preserve_all_tensors", UserWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        # Held: its interpreters' C++ "Created TensorFlow Lite XNNPACK delegate" lines.
        with held_stderr():
            with contextlib.redirect_stderr(io.StringIO()):  # its per-example progress bar
                ranges = qt.calibrate({SIGNATURE: feed})
            result = qt.quantize(ranges, enable_progress_report=False)
    return inline_buffers(bytes(result.quantized_model))


def inline_buffers(content: bytes) -> bytes:
    """The same `.tflite` with every weight buffer inside the flatbuffer.

    litert-quantizer appends some buffers after the flatbuffer (a buffer's `offset` and `size`);
    tflite-support's metadata writer does not know those fields and drops the data, so the file
    would no longer run ("Input tensor 1 lacks data")."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for buffer in model.buffers:
        if buffer.offset > 1:  # 0 and 1 mean "no external data"
            buffer.data = np.frombuffer(content, np.uint8, buffer.size, buffer.offset)
            buffer.offset = buffer.size = 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def litert_quantizer_available() -> bool:
    """Whether the optional `litert-quantizer` package is installed."""
    try:
        import litert_quantizer  # noqa: F401
    except ImportError:
        return False
    return True


def calibration_examples(x_train: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` examples of an array drawn by `seed` for activation ranges (int8 calibration), as
    `tfmodel.data.reading.sample_images` draws them from a split."""
    return x_train[reading.sample_indices(len(x_train), count, seed)].astype(np.float32)


def _calibration_feed(x: np.ndarray, input_name: str) -> Iterator[dict[str, np.ndarray]]:
    """One example at a time, keyed by the signature's input name, as both quantizers take it."""
    for i in range(len(x)):
        yield {input_name: x[i : i + 1]}


@dataclass(frozen=True)
class GpuCheck:
    """What TFLite's analyzer says about the GPU delegate, plus the file's ops."""

    analyzer_compatible: bool
    ops: list[str]
    custom_ops: list[str]
    text: str

    @property
    def compatible(self) -> bool:
        """The analyzer found no problem and every op is a builtin (no Flex/custom op)."""
        return self.analyzer_compatible and not self.custom_ops


def analyze_gpu_compatibility(content: bytes) -> GpuCheck:
    """Run TFLite's analyzer with its GPU-delegate check and list the file's ops.

    The analyzer prints instead of returning, so stdout is captured. The pip builds of TF 2.21
    and ai-edge-litert 2.3 lack its per-op GPU checker (they call a model with a Flex op
    compatible), so ops are also listed here, and custom ops, which the GPU delegate never runs
    (they stay on the CPU), are flagged.
    """
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_content=content, gpu_compatibility=True)
    text = buffer.getvalue()
    ops = list(dict.fromkeys(re.findall(r"^\s*Op#\d+ (\w+)\(", text, flags=re.MULTILINE)))
    return GpuCheck(
        analyzer_compatible="looks compatible with GPU delegate" in text
        and "GPU COMPATIBILITY WARNING" not in text,
        ops=ops,
        custom_ops=[
            op for op in ops if not re.fullmatch(r"[A-Z0-9_]+", op)
        ],  # builtins: UPPER_CASE
        text=text,
    )
