"""Magnitude pruning with tensorflow-model-optimization, starting from the trained weights.

Each layer tfmot can prune (Dense, Conv, the pointwise kernel of SeparableConv) is wrapped with
`prune_low_magnitude`; during a short fine-tuning the
smallest-magnitude weights are zeroed on a `PolynomialDecay` schedule up to the target sparsity,
then `strip_pruning` leaves a plain model whose kernels hold the zeros. Zeros cost nothing to
compute here, but they make the file compress well (gzip on download, zip in an app).
Layers with a kernel that tfmot has no pruning for (DepthwiseConv2D, the user's own layer
classes, nested models) keep their weights whole and are listed in `PrunedModel.unpruned`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.finetune import fine_tune_data, finetune, kernels, wrap_layers
from edge.sparsity import check_pruning_settings, pruning_steps, zero_fraction
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits, StreamedSplits

import tensorflow_model_optimization as tfmot  # isort: skip  (after tfmodel.backend picks Keras 2)
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (  # isort: skip
    PruneRegistry,
)


@dataclass(frozen=True)
class PrunedModel:
    """The stripped model, the fraction of zero kernel weights it reached (overall and per layer
    with a kernel) and the layers with a kernel that tfmot could not prune."""

    model: keras.Model
    sparsity: float
    layer_sparsity: dict[str, float]
    unpruned: list[str]


def prune_model(
    model: keras.Model, splits: Splits | StreamedSplits, config: Config, backup: Path | None = None
) -> PrunedModel:
    """Fine-tune `model` for `edge.prune_epochs` epochs while pruning to `edge.target_sparsity`,
    backing up into `backup` (edge.finetune) when given."""
    target, epochs = config.edge.target_sparsity, config.edge.prune_epochs
    check_pruning_settings(target, epochs)
    data = fine_tune_data(splits, config)
    end_step, frequency = pruning_steps(data.steps_per_epoch * epochs)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=target,
        begin_step=0,
        end_step=end_step,
        frequency=frequency,
    )
    wrapped = wrap_layers(
        model,
        lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule),
        prunable,
    )
    unpruned = [layer.name for layer in model.layers if kernels(layer) and not prunable(layer)]
    print(
        f"pruning to sparsity {target:g} in {epochs} epochs, masks updated every {frequency} steps"
        + (f"; tfmot cannot prune {', '.join(unpruned)}: kept whole" if unpruned else "")
    )
    update_step = tfmot.sparsity.keras.UpdatePruningStep()
    # UpdatePruningStep advances the pruning step once per tf.function call: one train step a
    # call keeps the schedule's steps the optimizer's.
    finetune(wrapped, data, config, epochs, [update_step], backup, steps_per_execution=1)
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    layers = kernel_sparsity(stripped)
    return PrunedModel(stripped, overall_sparsity(stripped), layers, unpruned)


def prunable(layer: keras.layers.Layer) -> bool:
    """Whether `prune_low_magnitude` takes `layer` and prunes some of its weights: tfmot's
    registry knows Keras' own layer classes only (not subclasses), and lists DepthwiseConv2D
    among them with no weight to prune."""
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return True
    return PruneRegistry.supports(layer) and bool(PruneRegistry._weight_names(layer))


def kernel_sparsity(model: keras.Model) -> dict[str, float]:
    """Per layer with a kernel: the fraction of its kernel weights that are exactly zero."""
    return {
        layer.name: zero_fraction([k.numpy() for k in kernels(layer)])
        for layer in model.layers
        if kernels(layer)
    }


def overall_sparsity(model: keras.Model) -> float:
    """The fraction of all kernel weights that are exactly zero (biases excluded)."""
    return zero_fraction([k.numpy() for layer in model.layers for k in kernels(layer)])
