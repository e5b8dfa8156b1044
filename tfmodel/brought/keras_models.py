"""Keras models at the door: a `.keras` file of either Keras loaded by that Keras, then described.

Which Keras wrote a file is read from its `metadata.json` (`keras_version`): Keras 3 files load
through `tfmodel.keras3`, tf_keras files through `tfmodel.backend`, so the two never meet.
Loading keeps Keras' safe_mode unless the user trusts the file's code; a class Keras cannot
find, a Lambda layer under safe_mode, or a file that is no model are each one UserError.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tfmodel.brought.description import RUN, TF_KERAS, ModelOptions
from tfmodel.errors import UserError, first_line
from tfmodel.models.model_keras import keras_of_file

RESCALE_LAYER = "rescale"  # training's first layer: raw pixels → [0, 1]
CUSTOM_OBJECTS_FLAG = "--custom-objects FILE.py"
TRUST_FLAG = "--trust-model-code"
# How each Keras names a class it cannot find when deserializing.
MISSING_CLASS = (
    re.compile(r"Could not locate class '([^']+)'"),  # Keras 3
    re.compile(r"Unknown (?:layer|object|activation|class)[^']*'([^']+)'"),  # tf_keras
)


def load_keras_file(path: Path, options: ModelOptions) -> tuple[Any, str]:
    """The model in the `.keras` file at `path`, uncompiled, and its kind (KERAS3 or TF_KERAS)."""
    model_keras = keras_of_file(path)
    try:
        model = model_keras.load_model(path, compile=False, safe_mode=not options.trust_code)
    except Exception as err:  # Keras raises TypeError, ValueError, KeyError... for bad files
        raise loading_error(path, err, options) from None
    if not isinstance(model, model_keras.keras.Model):
        raise UserError(f"{path} holds a {type(model).__name__}, not a Keras model; save a model")
    return model, model_keras.name


def loading_error(path: Path, err: Exception, options: ModelOptions) -> UserError:
    """The one line that says why Keras refused `path`, and the flag or fix that helps."""
    message = str(err)
    for pattern in MISSING_CLASS:
        found = pattern.search(message)
        if found and options.custom_objects is None:
            return UserError(
                f"{path} uses class {found.group(1)!r}, which is not registered; pass "
                f"{CUSTOM_OBJECTS_FLAG} (a file that defines it with "
                "@keras.saving.register_keras_serializable())"
            )
        if found:
            return UserError(
                f"{path} uses class {found.group(1)!r}, which {options.custom_objects} does not "
                "register; decorate it there with @keras.saving.register_keras_serializable()"
            )
    if "safe_mode" in message:
        return UserError(
            f"{path} has a Lambda layer, whose Python code Keras runs only if you trust the file; "
            f"pass {TRUST_FLAG} if you do"
        )
    return UserError(
        f"{path} cannot be loaded as a Keras model ({type(err).__name__}: {first_line(err)}); "
        "give a file written by model.save('NAME.keras')"
    )


def ends_in_softmax(model: Any) -> bool:
    """Whether the model's last layer applies softmax (a Softmax layer or softmax activation);
    read by name, so it holds for both Kerases."""
    last = model.layers[-1] if model.layers else None
    if type(last).__name__ == "Softmax":
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def keras_capabilities(kind: str) -> dict[str, Any]:
    """What the edge stage can do to a Keras model of `kind`: pruning and QAT, or why not."""
    if kind in (RUN, TF_KERAS):
        return {"pruning": "tfmot", "pruning_why_not": "", "qat": True, "qat_why_not": ""}
    return {
        "pruning": "own",
        "pruning_why_not": "",
        "qat": False,
        "qat_why_not": "QAT is TFMOT's, which takes tf_keras models only; a Keras 3 model keeps "
        "its post-training int8",
    }


def keras_call(model: Any):
    """The model's forward pass in inference mode, for `BroughtModel.call`."""

    def call(pixels):
        return model(pixels, training=False)

    return call


def describe_inputs_outputs(model: Any, where: str) -> tuple[str, tuple[int, ...], str, int]:
    """(input name, input shape, input dtype, number of classes) of a Keras model, or UserError
    when it has not one input of fixed size and one (batch, classes) output."""
    if len(model.inputs) != 1:
        raise UserError(f"{where} takes {len(model.inputs)} inputs; bring a model with one input")
    spec = model.inputs[0]
    shape = tuple(spec.shape[1:])
    if any(size is None for size in shape):
        raise UserError(
            f"{where} takes inputs of shape {tuple(spec.shape)}, with sizes left open; save it "
            "with a fixed input size, e.g. keras.Input(shape=(224, 224, 3))"
        )
    check_class_vector(where, [tuple(output.shape) for output in model.outputs])
    dtype = getattr(spec.dtype, "name", spec.dtype)
    name = getattr(spec, "name", None) or model.input_names[0]
    return (
        name.split(":")[0],
        tuple(int(s) for s in shape),
        str(dtype),
        int(model.outputs[0].shape[-1]),
    )


def check_class_vector(where: str, output_shapes: list[tuple[int | None, ...]]) -> None:
    """UserError unless there is one output of shape (batch, classes) with 2 or more classes."""
    if len(output_shapes) == 1:
        shape = output_shapes[0]
        if len(shape) == 2 and shape[-1] is not None and shape[-1] >= 2:
            return
    shown = output_shapes[0] if len(output_shapes) == 1 else f"{len(output_shapes)} outputs"
    raise UserError(
        f"{where} outputs {shown}, not a class vector; bring a classifier whose one output is "
        "(batch, classes) with 2 or more classes"
    )


def rescaled_pixel_max(model: Any) -> float | None:
    """The raw input's top value read from a layer named `rescale` (1 / its scale), if any."""
    layer = next((layer for layer in model.layers if layer.name == RESCALE_LAYER), None)
    return None if layer is None else 1.0 / float(layer.scale)


def described_keras(model: Any, kind: str, where: str) -> dict[str, Any]:
    """The BroughtModel fields a Keras model gives by itself."""
    name, shape, dtype, classes = describe_inputs_outputs(model, where)
    return {
        "pixel_max": rescaled_pixel_max(model),
        "model": model,
        "call": keras_call(model),
        "input_name": name,
        "input_shape": shape,
        "input_dtype": dtype,
        "num_classes": classes,
        "parameters": int(model.count_params()),
        **keras_capabilities(kind),
    }
