"""The variants' files: which Keras model each comes from, and its `.tflite` with metadata.

`edge.optimize` calls these in order: `resolve_variants` (the config's list, checked),
`build_sources` (the float model, and the pruned and QAT models only when a variant needs them:
each is minutes of fine-tuning), `convert_variants` (one `model_<variant>.tflite` each, int8 I/O
from whichever quantizer `choose_int8` finds more accurate on the validation split).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edge import convert, metadata
from edge.device.manifest import ModelFile
from edge.device.runtime import EdgeModel
from tfmodel.config import Config
from tfmodel.errors import UserError

# Per int8-I/O variant, each quantizer's scores: {"tflite-converter": {"val_accuracy": …}, …}.
Candidates = dict[str, dict[str, float]]


class Recipe(NamedTuple):
    """How a variant is made: from which source model (a `Sources` field), by which conversion."""

    source: str
    conversion: str


# Variant name → its recipe; `edge.variants` in the config picks from these names.
VARIANTS = {
    "float32": Recipe("float", "float32"),
    "dynamic": Recipe("float", "dynamic"),
    "float16": Recipe("float", "float16"),
    "int8": Recipe("float", "int8"),  # float32 I/O: what devices use
    "int8_io": Recipe("float", "int8_io"),  # int8 I/O: integer-only targets
    "pruned_float32": Recipe("pruned", "float32"),
    "pruned_int8": Recipe("pruned", "int8"),
    "qat_int8": Recipe("qat", "int8"),
}


def resolve_variants(config: Config) -> list[str]:
    """`edge.variants` checked, with float32 first (the reference) and qat_int8 if `edge.qat`."""
    unknown = [v for v in config.edge.variants if v not in VARIANTS]
    if unknown:
        raise UserError(
            f"edge.variants has unknown {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(VARIANTS)}"
        )
    names = ["float32", *config.edge.variants, *(["qat_int8"] if config.edge.qat else [])]
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class SourceModel:
    """A Keras model variants are converted from, with its kernel sparsity (a report column)."""

    model: Any
    sparsity: float


@dataclass(frozen=True)
class Sources:
    """The Keras models behind the variants; `pruned` and `qat` are None when no variant asks."""

    float: SourceModel
    pruned: SourceModel | None = None
    qat: SourceModel | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)  # what pruning reached
    unpruned: list[str] = field(default_factory=list)  # layers with a kernel tfmot cannot prune

    def of(self, variant: str) -> SourceModel:
        """The model `variant` is converted from (its recipe names the field)."""
        return getattr(self, VARIANTS[variant].source)


def build_sources(model: Any, splits: Any, config: Config, variants: list[str]) -> Sources:
    """The float model, plus pruning's and QAT's fine-tuned copies if `variants` needs them.

    prune and qat are imported here, when a model is built, so that importing this module (or
    edge.optimize) does not import tfmot. A QAT model keeps the float model's sparsity.
    """
    from edge.prune import overall_sparsity, prune_model
    from edge.qat import quantize_aware_finetune

    float_source = SourceModel(model, overall_sparsity(model))
    needed = {VARIANTS[v].source for v in variants}
    pruned, layer_sparsity, unpruned = None, {}, []
    if "pruned" in needed:
        result = prune_model(model, splits, config)
        pruned = SourceModel(result.model, result.sparsity)
        layer_sparsity, unpruned = result.layer_sparsity, result.unpruned
    qat = None
    if "qat" in needed:
        qat = SourceModel(quantize_aware_finetune(model, splits, config), float_source.sparsity)
    return Sources(float_source, pruned, qat, layer_sparsity, unpruned)


@dataclass(frozen=True)
class Converted:
    """The files written, in variant order, and the quantizers' scores for each int8-I/O file."""

    files: list[ModelFile]
    candidates: dict[str, Candidates]


def convert_variants(
    sources: Sources, variants: list[str], splits: Any, config: Config, out_dir: Path
) -> Converted:
    """Write `model_<variant>.tflite` for each variant, with TFLite metadata where it can.

    Each source's float32 file is converted once: it is both its float32 variant and what
    litert-quantizer quantizes (QAT models go through the TFLite converter only). Metadata needs
    the tflite-support helper venv; without it one line says so and the files go without.
    """
    input_name = config.model.input_name
    calibration = convert.calibration_examples(splits.x_train, seed=config.training.seed)
    info = metadata.describe(
        config.output.name, splits.class_names, splits.input_shape, splits.pixel_max
    )
    if info is not None and metadata.writer_python() is None:
        print(metadata.missing_writer_note())
    files, candidates = [], {}
    float_files: dict[str, bytes] = {}
    for variant in variants:
        source, kind = VARIANTS[variant]
        made_from = sources.of(variant)
        keras_model = made_from.model
        if source != "qat" and source not in float_files:
            float_files[source] = convert.convert_model(keras_model, input_name, "float32")
        quantizer = None if kind == "float32" else "tflite-converter"
        if kind == "int8_io" and source != "qat":
            content, quantizer, candidates[variant] = choose_int8(
                keras_model, float_files[source], input_name, calibration, splits
            )
        elif kind == "float32":
            content = float_files[source]
        else:
            content = convert.convert_model(keras_model, input_name, kind, calibration)
        path = out_dir / f"model_{variant}.tflite"
        path.write_bytes(content)
        embedded = info is not None and metadata.embed_metadata(path, {**info, "variant": variant})
        files.append(ModelFile(path, variant, quantizer, made_from.sparsity))
        print(f"wrote {path} ({path.stat().st_size:,} bytes{', metadata' if embedded else ''})")
    return Converted(files, candidates)


def choose_int8(
    keras_model: Any, float_tflite: bytes, input_name: str, calibration: np.ndarray, splits: Any
) -> tuple[bytes, str, Candidates]:
    """(file, quantizer, scores): int8-I/O from each quantizer, the better on the validation split.

    Only int8 I/O has two candidates: litert-quantizer makes no float-I/O files.

    Better means more accurate; on a tie (common on small splits), closer to the float model's
    probabilities (mean |Δp|), then smaller. Test accuracy is recorded for the report only.
    """
    made = {
        "tflite-converter": convert.convert_model(keras_model, input_name, "int8_io", calibration)
    }
    if convert.litert_quantizer_available():
        made["litert-quantizer"] = convert.quantize_with_litert(
            float_tflite, input_name, calibration
        )
    x_val = splits.x_val if len(splits.x_val) else calibration
    float_probabilities = convert.softmax(keras_model.predict(x_val, verbose=0))
    # Without a validation split, the float model's answers stand in for the labels.
    y_val = splits.y_val if len(splits.x_val) else float_probabilities.argmax(axis=1)
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in made.items():
            path = Path(tmp) / f"{name}.tflite"
            path.write_bytes(content)
            candidate = EdgeModel(path, verify=False)
            probabilities = candidate.predict(x_val)
            scores[name] = {
                "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == y_val)),
                "val_probability_error": float(
                    np.mean(np.abs(probabilities - float_probabilities))
                ),
                "test_accuracy": float(
                    np.mean(candidate.predict(splits.x_test).argmax(axis=1) == splits.y_test)
                ),
                "bytes": len(content),
            }
    best = max(
        made,
        key=lambda n: (
            scores[n]["val_accuracy"],
            -scores[n]["val_probability_error"],
            -scores[n]["bytes"],
        ),
    )
    return made[best], best, scores
