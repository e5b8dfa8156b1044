"""Magnitude pruning with tensorflow-model-optimization, starting from the trained weights.

Each Dense/Conv kernel is wrapped with `prune_low_magnitude`; during a short fine-tuning the
smallest-magnitude weights are zeroed on a `PolynomialDecay` schedule up to the target sparsity,
then `strip_pruning` leaves a plain model whose kernels hold the zeros. Zeros cost nothing to
compute here, but they make the file compress well (gzip on download, zip in an app).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.finetune import KERNEL_LAYERS, finetune, steps_per_epoch, wrap_kernel_layers
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits
from tfmodel.errors import UserError

import tensorflow_model_optimization as tfmot  # isort: skip  (after tfmodel.backend picks Keras 2)


@dataclass(frozen=True)
class PrunedModel:
    """The stripped model and the fraction of zero kernel weights it reached."""

    model: keras.Model
    sparsity: float
    layer_sparsity: dict[str, float]


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
    wrapped = wrap_kernel_layers(
        model,
        lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule),
    )
    print(
        f"pruning to sparsity {target:g} in {epochs} epochs, masks updated every {frequency} steps"
    )
    finetune(wrapped, splits, config, epochs, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    layers = kernel_sparsity(stripped)
    return PrunedModel(stripped, overall_sparsity(stripped), layers)


def pruning_steps(total_steps: int) -> tuple[int, int]:
    """(end_step, frequency): the target is reached after about 3/4 of the fine-tuning steps, so
    the rest recovers accuracy with the mask fixed; end_step is a multiple of the frequency,
    since masks change only every `frequency` steps and would otherwise stop short of the target."""
    frequency = max(1, total_steps // 20)
    end_step = max(frequency, (total_steps * 3 // 4) // frequency * frequency)
    return end_step, frequency


def kernel_sparsity(model: keras.Model) -> dict[str, float]:
    """Per Dense/Conv layer: the fraction of its kernel's weights that are exactly zero."""
    return {
        layer.name: float(np.mean(layer.kernel.numpy() == 0))
        for layer in model.layers
        if isinstance(layer, KERNEL_LAYERS)
    }


def overall_sparsity(model: keras.Model) -> float:
    """The fraction of all Dense/Conv kernel weights that are exactly zero (biases excluded)."""
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, KERNEL_LAYERS)]
    if not kernels:
        return 0.0
    return float(sum(np.sum(k == 0) for k in kernels) / sum(k.size for k in kernels))
