"""The variants' files: which Keras model each comes from, and its `.tflite` with metadata.

`edge.optimize` calls these in order: `resolve_variants` (the config's list, checked),
`build_sources` (the float model, and the pruned and QAT models only when a variant needs them
and the model's Keras allows: each is minutes of fine-tuning), `convert_variants` (one
`model_<variant>.tflite` each, int8 from whichever quantizer `choose_int8` finds more accurate on
the validation split). The model is the door's description (`tfmodel.brought.BroughtModel`), the
same for a run folder, a `.keras` file of either Keras or a SavedModel.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edge import convert, metadata
from edge.device.manifest import ModelFile
from edge.device.runtime import EdgeModel
from edge.report import file_predictor
from edge.sparsity import zero_fraction
from tfmodel.config import Config
from tfmodel.data import reading
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
    """`edge.variants` checked, with float32 first (the reference) and qat_int8 if `edge.qat`
    (and `edge.calibration_examples` checked, so a bad count stops before any fine-tuning)."""
    check_calibration_examples(config.edge.calibration_examples)
    unknown = [v for v in config.edge.variants if v not in VARIANTS]
    if unknown:
        raise UserError(
            f"edge.variants has unknown {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(VARIANTS)}"
        )
    names = ["float32", *config.edge.variants, *(["qat_int8"] if config.edge.qat else [])]
    return list(dict.fromkeys(names))


def check_calibration_examples(count: int) -> None:
    """UserError unless `count` (`edge.calibration_examples`) is a positive whole number."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(
            f"edge.calibration_examples is {count!r}: int8 calibration needs at least one train "
            "example; set it to a positive whole number, e.g. --set edge.calibration_examples=500"
        )


@dataclass(frozen=True)
class SourceModel:
    """A model variants are converted from (the door's description, `tfmodel.brought`, or a copy
    of it holding a fine-tuned Keras model), with its kernel sparsity (a report column)."""

    model: Any
    sparsity: float


@dataclass(frozen=True)
class Sources:
    """The models behind the variants; `pruned` and `qat` are None when no variant asks or the
    model cannot be (`skipped` says why, per source)."""

    float: SourceModel
    pruned: SourceModel | None = None
    qat: SourceModel | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)  # what pruning reached
    unpruned: list[str] = field(default_factory=list)  # layers with a kernel left whole
    skipped: dict[str, str] = field(default_factory=dict)  # source → why it was not made

    def of(self, variant: str) -> SourceModel | None:
        """The model `variant` is converted from (its recipe names the field)."""
        return getattr(self, VARIANTS[variant].source)


def build_sources(
    model: Any, splits: Any, config: Config, variants: list[str], backup: Path | None = None
) -> Sources:
    """The float model, plus pruning's and QAT's fine-tuned copies if `variants` needs them and
    the model can have them (`model.pruning`: TFMOT's for tf_keras, edge.prune_keras3 for Keras 3;
    `model.qat`: TFMOT's, tf_keras only). Each fine-tune backs up into its own folder in
    `backup` when given (`backup/pruned`, `backup/qat`), resuming from what a kill left there.

    The pruning and QAT modules are imported here, when a model is built, so that importing this
    module (or edge.optimize) imports no tfmot. A QAT model keeps the float model's sparsity.
    """
    float_source = SourceModel(model, model_sparsity(model.model))
    needed = {VARIANTS[v].source for v in variants}
    pruned, layer_sparsity, unpruned, skipped = None, {}, [], {}
    if "pruned" in needed and model.pruning is None:
        skipped["pruned"] = model.pruning_why_not
    elif "pruned" in needed:
        result = prune(model, splits, config, backup and backup / "pruned")
        pruned = SourceModel(fine_tuned(model, result.model), result.sparsity)
        layer_sparsity, unpruned = result.layer_sparsity, result.unpruned
    qat = None
    if "qat" in needed and not model.qat:
        skipped["qat"] = model.qat_why_not
    elif "qat" in needed:
        from edge.qat import quantize_aware_finetune

        qat_model = quantize_aware_finetune(model.model, splits, config, backup and backup / "qat")
        qat = SourceModel(fine_tuned(model, qat_model), float_source.sparsity)
    return Sources(float_source, pruned, qat, layer_sparsity, unpruned, skipped)


def prune(model: Any, splits: Any, config: Config, backup: Path | None = None) -> Any:
    """The model's Keras pruned to `edge.target_sparsity` by the pruning its Keras has, as
    edge.prune's `PrunedModel`; the fine-tune backs up into `backup` when given."""
    from edge.prune import PrunedModel, prune_model

    if model.pruning == "tfmot":
        return prune_model(model.model, splits, config, backup)
    from edge.finetune import fine_tune_data, prepare_backup
    from edge.prune_keras3 import prune_keras3_model
    from tfmodel.keras3 import keras
    from tfmodel.optimizers.keras3 import make_keras3_optimizer
    from tfmodel.training.keras3_fit import Keras3Backup

    epochs = config.edge.prune_epochs
    keras.utils.set_random_seed(config.training.seed)
    data = fine_tune_data(splits, config)
    steps = data.steps_per_epoch
    callbacks = []
    if backup is not None:
        prepare_backup(backup, model.model, config)
        every_s = config.training.backup_every_s
        callbacks.append(Keras3Backup(backup, data.data_epoch, steps, None, every_s))
    print(f"pruning to sparsity {config.edge.target_sparsity:g} in {epochs} epochs (Keras 3)")
    result = prune_keras3_model(
        model.model,
        data.batches.train,
        target_sparsity=config.edge.target_sparsity,
        epochs=epochs,
        optimizer=make_keras3_optimizer(config.optimizer, steps, epochs),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=model.gives_logits),
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=config.training.verbose,
        backup=backup,
    )
    return PrunedModel(result.model, model_sparsity(result.model), result.sparsity, result.skipped)


def fine_tuned(model: Any, keras_model: Any) -> Any:
    """The description `model` with its Keras replaced by a fine-tuned copy of it."""
    from tfmodel.brought.keras_models import keras_call

    return dataclasses.replace(model, model=keras_model, call=keras_call(keras_model))


def model_sparsity(model: Any) -> float:
    """The fraction of the model's kernel weights (variables of 2 or more dimensions) that are
    exactly zero; any model with `variables` (Keras 3, tf_keras, a loaded SavedModel)."""
    return zero_fraction([v.numpy() for v in getattr(model, "variables", []) if len(v.shape) >= 2])


@dataclass(frozen=True)
class Converted:
    """The files written, in variant order, and the quantizers' scores for each int8 file."""

    files: list[ModelFile]
    candidates: dict[str, Candidates]


def convert_variants(
    sources: Sources, variants: list[str], splits: Any, config: Config, out_dir: Path
) -> Converted:
    """Write `model_<variant>.tflite` for each variant its source was made for, with TFLite
    metadata where it can.

    Each source's float32 file is converted once: it is both its float32 variant and what
    litert-quantizer quantizes (QAT models go through the TFLite converter only). Metadata needs
    the tflite-support helper venv; without it one line says so and the files go without.
    """
    brought = sources.float.model
    calibration = reading.sample_images(
        splits, "train", config.edge.calibration_examples, config.training.seed
    )
    info = metadata.describe(
        brought.name, list(brought.labels), tuple(brought.input_shape), splits.pixel_max
    )
    if info is not None and metadata.writer_python() is None:
        print(metadata.missing_writer_note())
    files, candidates = [], {}
    float_files: dict[str, bytes] = {}
    for variant in variants:
        source, kind = VARIANTS[variant]
        made_from = sources.of(variant)
        if made_from is None:
            continue
        if source != "qat" and source not in float_files:
            float_files[source] = convert_source(made_from.model, "float32")
        quantizer = None if kind == "float32" else "tflite-converter"
        if kind in ("int8", "int8_io") and source != "qat":
            content, quantizer, candidates[variant] = choose_int8(
                made_from.model, float_files[source], kind, calibration, splits
            )
        elif kind == "float32":
            content = float_files[source]
        else:
            content = convert_source(made_from.model, kind, calibration)
        path = out_dir / f"model_{variant}.tflite"
        path.write_bytes(content)
        embedded = info is not None and metadata.embed_metadata(path, {**info, "variant": variant})
        files.append(ModelFile(path, variant, quantizer, made_from.sparsity))
        print(f"wrote {path} ({path.stat().st_size:,} bytes{', metadata' if embedded else ''})")
    return Converted(files, candidates)


def convert_source(model: Any, kind: str, calibration: np.ndarray | None = None) -> bytes:
    """The described model's probabilities as a `.tflite` of one `kind`."""
    return convert.convert_function(
        model.probabilities, model.input_shape, model.input_name, kind, calibration, model.name
    )


def choose_int8(
    model: Any, float_tflite: bytes, kind: str, calibration: np.ndarray, splits: Any
) -> tuple[bytes, str, Candidates]:
    """(file, quantizer, scores): `kind` (int8 or int8_io) from each quantizer, the better on the
    validation split.

    Better means more accurate; on a tie (common on small splits), closer to the float model's
    probabilities (mean |Δp|), then smaller. Test accuracy is recorded for the report only.
    """
    made = {"tflite-converter": convert_source(model, kind, calibration)}
    if convert.litert_quantizer_available():
        made["litert-quantizer"] = convert.quantize_with_litert(
            float_tflite, model.input_name, calibration, kind
        )
    has_val = reading.count(splits, "val") > 0

    def validation(predict: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`predict` over the validation split, or over the calibration examples without one."""
        return reading.predict_split(predict, splits, "val") if has_val else predict(calibration)

    float_probabilities = validation(model.predict)
    # Without a validation split, the float model's answers stand in for the labels.
    y_val = reading.labels(splits, "val") if has_val else float_probabilities.argmax(axis=1)
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in made.items():
            path = Path(tmp) / f"{name}.tflite"
            path.write_bytes(content)
            predict = file_predictor(EdgeModel(path, verify=False))
            probabilities = validation(predict)
            test_top1 = reading.predict_split(predict, splits, "test").argmax(axis=1)
            scores[name] = {
                "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == y_val)),
                "val_probability_error": float(
                    np.mean(np.abs(probabilities - float_probabilities))
                ),
                "test_accuracy": float(np.mean(test_top1 == reading.labels(splits, "test"))),
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
