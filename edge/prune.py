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

import numpy as np

from edge.finetune import finetune, kernels, steps_per_epoch, wrap_layers
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits
from tfmodel.errors import UserError

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


def prune_model(model: keras.Model, splits: Splits, config: Config) -> PrunedModel:
    """Fine-tune `model` for `edge.prune_epochs` epochs while pruning to `edge.target_sparsity`."""
    target, epochs = config.edge.target_sparsity, config.edge.prune_epochs
    if not 0 <= target < 1:
        raise UserError(
            f"edge.target_sparsity is {target}; give the fraction of weights to zero, in [0, 1), "
            "e.g. 0.8"
        )
    if epochs < 1:
        raise UserError(f"edge.prune_epochs is {epochs}; pruning needs at least 1 epoch, e.g. 4")
    end_step, frequency = pruning_steps(steps_per_epoch(splits, config) * epochs)
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
    finetune(wrapped, splits, config, epochs, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
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


def pruning_steps(total_steps: int) -> tuple[int, int]:
    """(end_step, frequency): the target is reached after about 3/4 of the fine-tuning steps, so
    the rest recovers accuracy with the mask fixed; end_step is a multiple of the frequency,
    since masks change only every `frequency` steps and would otherwise stop short of the target."""
    frequency = max(1, total_steps // 20)
    end_step = max(frequency, (total_steps * 3 // 4) // frequency * frequency)
    return end_step, frequency


def kernel_sparsity(model: keras.Model) -> dict[str, float]:
    """Per layer with a kernel: the fraction of its kernel weights that are exactly zero."""
    return {
        layer.name: _zero_fraction([k.numpy() for k in kernels(layer)])
        for layer in model.layers
        if kernels(layer)
    }


def overall_sparsity(model: keras.Model) -> float:
    """The fraction of all kernel weights that are exactly zero (biases excluded)."""
    return _zero_fraction([k.numpy() for layer in model.layers for k in kernels(layer)])


def _zero_fraction(arrays: list[np.ndarray]) -> float:
    if not arrays:
        return 0.0
    return float(sum(np.sum(a == 0) for a in arrays) / sum(a.size for a in arrays))
