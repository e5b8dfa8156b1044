"""Whether training can take a model it did not build, decided before training starts.

Each problem is one UserError naming the model, the problem and the fix: not a model of either
Keras (tf_keras or Keras 3), not one input of the data's shape, not one output of
(batch, classes), softmax where logits are expected, and a TensorFlow op TFLite cannot take.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

from tfmodel.backend import keras, tf
from tfmodel.config import ModelConfig
from tfmodel.errors import UserError, first_line

KERAS_FIX = "write it with `import keras` (Keras 3) or `import tf_keras as keras`"


def check_model(model: Any, where: str, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Raise UserError unless `model` is a Keras model (tf_keras or Keras 3) from raw pixels of
    `input_shape` to `num_classes` logits."""
    if not isinstance(model, keras.Model) and not is_keras3_model(model):
        raise UserError(
            f"{where} gave a {type(model).__name__}, not a keras.Model; return the model "
            f"(e.g. keras.Model(inputs, logits)), {KERAS_FIX}"
        )
    _check_shapes(model, where, input_shape, num_classes)
    if ends_in_softmax(model):
        raise UserError(
            f"{where} ends in a softmax, but training takes logits (its loss and the exports "
            "apply softmax themselves); give the last layer no activation"
        )


def named_by(model_cfg: ModelConfig) -> str:
    """The config key and value that name the model, for messages: `model.builder x.py:f`."""
    if model_cfg.from_keras:
        return f"model.from_keras {model_cfg.from_keras}"
    if model_cfg.builder:
        return f"model.builder {model_cfg.builder}"
    return f"model.name {model_cfg.name}"


def is_keras3_model(model: Any) -> bool:
    """Whether `model` is a Keras 3 object. Keras 3 is looked up, never imported: a model can
    only be one if some code has imported it already."""
    keras3 = sys.modules.get("keras")
    if keras3 is None or keras3 is keras or not hasattr(keras3, "version"):
        return False
    return isinstance(model, (keras3.Model, keras3.layers.Layer))


def saved_by_keras3(path: Path) -> bool:
    """Whether the .keras archive at `path` says Keras 3 wrote it (its metadata.json)."""
    return (saved_keras_version(path) or "").startswith("3.")


def saved_keras_version(path: Path) -> str | None:
    """The `keras_version` the .keras archive at `path` records (None if it records none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return str(version) if version else None


def ends_in_softmax(model: Any) -> bool:
    """Whether the layer giving the model's output (of either Keras) applies softmax."""
    last = model.get_layer(index=-1) if model.layers else None
    if type(last).__name__ == "Softmax":
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") in ("softmax", "log_softmax")


def check_convertible(model: Any, where: str) -> None:
    """Convert `model` to float32 TFLite with built-in ops only, as the edge stage will.

    The model is traced as a function of one example: the converter's `from_keras_model` takes
    tf_keras models only, and a traced function serves either Keras.
    """
    spec = tf.TensorSpec((1, *model.input_shape[1:]), model.inputs[0].dtype)
    function = tf.function(lambda images: model(images, training=False))
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function(spec)], model
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        converter.convert()
    except Exception as err:
        ops = sorted(
            set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(err)))
        )
        problem = f"uses TensorFlow op(s) {', '.join(ops)}" if ops else f"fails ({first_line(err)})"
        raise UserError(
            f"{where} {problem}, which the edge stage's TFLite converter cannot take; replace "
            "the layer that uses them with built-in Keras layers, or set edge.enabled=false"
        ) from None


def _check_shapes(model: Any, where: str, input_shape: tuple[int, ...], classes: int):
    if len(model.inputs) != 1 or not _fits(model.input_shape[1:], input_shape):
        raise UserError(
            f"{where} takes input {model.input_shape if len(model.inputs) == 1 else 'several'}"
            f", but the data's images are {input_shape}; give it one input "
            f"keras.Input(shape={input_shape})"
        )
    if len(model.outputs) != 1 or tuple(model.output_shape) != (None, classes):
        shape = model.output_shape if len(model.outputs) == 1 else "several outputs"
        raise UserError(
            f"{where} outputs {shape}, but the data has {classes} classes; end it in "
            f"keras.layers.Dense({classes}) (logits, no activation)"
        )


def _fits(model_shape: tuple[Any, ...], data_shape: tuple[int, ...]) -> bool:
    return len(model_shape) == len(data_shape) and all(
        m is None or m == d for m, d in zip(model_shape, data_shape, strict=True)
    )
