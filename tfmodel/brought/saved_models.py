"""SavedModel folders at the door: used through their `serving_default` signature, no Keras.

Keras 3's `model.export()`, tf_keras' `model.save`/`tf.saved_model.save` and a plain `tf.Module`
all leave a `serving_default` signature; only it is called, so Keras 3's `serve` endpoint and
its `output_0` key stay behind the door. Whether the output is logits or probabilities is read
from a probe batch (rows of values in [0, 1] summing to 1 are probabilities) unless the user says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfmodel.backend import tf
from tfmodel.brought.keras_models import check_class_vector
from tfmodel.errors import UserError, first_line

SIGNATURE = "serving_default"
PROBABILITIES_KEY = "probabilities"  # a SavedModel with several outputs (tfmodel's own exports)
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
PROBE_EXAMPLES = 4
PROBE_SEED = 0
SUM_TOLERANCE = 1e-3
WHY_NOT = "a SavedModel has no Keras layers to {}; bring the model's .keras file for it"


def is_saved_model(path: Path) -> bool:
    """Whether `path` is a SavedModel folder."""
    return path.is_dir() and any((path / name).is_file() for name in SAVED_MODEL_FILES)


def saved_model_files(path: Path) -> list[Path]:
    """The files that define the model: saved_model.pb(txt), then the variables, in name order."""
    graph = [path / name for name in SAVED_MODEL_FILES if (path / name).is_file()]
    return graph + sorted(p for p in (path / "variables").glob("*") if p.is_file())


def described_saved_model(path: Path, outputs: str) -> dict[str, Any]:
    """The BroughtModel fields of the SavedModel at `path`, read through `serving_default`."""
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as err:  # TensorFlow raises OSError, ValueError, ... for foreign folders
        raise UserError(
            f"{path} is not a readable SavedModel ({type(err).__name__}: {first_line(err)}); "
            "give a folder written by tf.saved_model.save or Keras' model.export()"
        ) from None
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None:
        names = ", ".join(sorted(loaded.signatures)) or "none"
        raise UserError(
            f"{path} has no {SIGNATURE} signature (it has: {names}); save it with "
            f"tf.saved_model.save(module, path, signatures={{'{SIGNATURE}': function}})"
        )
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise UserError(
            f"{path}'s {SIGNATURE} takes {len(inputs)} inputs; bring a model with one input"
        )
    input_name, spec = next(iter(inputs.items()))
    shape = tuple(spec.shape[1:])
    if spec.shape.rank is None or any(size is None for size in shape):
        raise UserError(
            f"{path}'s {SIGNATURE} takes inputs of shape {spec.shape}, with sizes left open; "
            "export it with a fixed input size"
        )
    key = output_key(path, signature.structured_outputs)

    def call(pixels: tf.Tensor) -> tf.Tensor:
        return signature(**{input_name: tf.cast(pixels, spec.dtype)})[key]

    given = {"logits": True, "probabilities": False}
    return {
        "model": loaded,
        "call": call,
        "input_name": input_name,
        "input_shape": tuple(int(s) for s in shape),
        "input_dtype": spec.dtype.name,
        "pixel_max": None,
        "num_classes": int(signature.structured_outputs[key].shape[-1]),
        "parameters": int(sum(np.prod(v.shape) for v in signature.variables)),
        "keras_version": None,
        "gives_logits": given[outputs] if outputs in given else sniff_logits(call, shape),
        "pruning": None,
        "pruning_why_not": WHY_NOT.format("prune"),
        "qat": False,
        "qat_why_not": WHY_NOT.format("train with fake quantization"),
    }


def output_key(path: Path, outputs: dict[str, Any]) -> str:
    """The one class-vector output (`probabilities` where there are several)."""
    key = PROBABILITIES_KEY if PROBABILITIES_KEY in outputs else None
    if key is None and len(outputs) == 1:
        key = next(iter(outputs))
    shapes = [tuple(outputs[key].shape)] if key else [tuple(o.shape) for o in outputs.values()]
    check_class_vector(f"{path}'s {SIGNATURE}", shapes)
    return key


def sniff_logits(call, shape: tuple[int, ...]) -> bool:
    """Whether the model gives logits: false when every row of its answer to random pixels
    (0..255) lies in [0, 1] and sums to 1, as probabilities do."""
    rng = np.random.default_rng(PROBE_SEED)
    probe = rng.uniform(0, 255, (PROBE_EXAMPLES, *shape)).astype(np.float32)
    answer = np.asarray(call(tf.constant(probe)), np.float64)
    in_range = bool(np.all(answer >= 0) and np.all(answer <= 1))
    return not (in_range and np.allclose(answer.sum(axis=-1), 1.0, atol=SUM_TOLERANCE))
