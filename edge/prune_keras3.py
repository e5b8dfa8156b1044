"""Magnitude pruning for Keras 3 models, which no library offers (tfmot is tf_keras only).

Every kernel of a Dense or convolution layer (Conv, Conv…Transpose, DepthwiseConv — whose kernel
tfmot leaves whole — and both kernels of SeparableConv, subclasses included) gets a mask of 0/1.
While the model is fine-tuned:
- at the steps TFMOT's `PolynomialDecay` names (edge.sparsity), each mask is recomputed to zero the
  kernel's smallest-magnitude weights, as many as the schedule's sparsity says, and applied;
- after EVERY optimizer step the mask is applied again: it is set as the kernel variable's
  `constraint`, which Keras 3's optimizer applies right after its update, inside the compiled
  step, so the masked weights are exactly zero whenever a step has finished.
Given a backup folder, the masks are saved there beside BackupAndRestore's weights, so an
interrupted fine-tune resumes with the masks its weights had. Stripping puts the kernels' own
constraints back: no wrapper layer or mask variable is ever added to the model, so the result is
the same layer classes with zeros in place, and saves, exports and converts as any Keras 3 model.
Other layers with a kernel (the user's own classes, Embedding) keep their weights whole and are
listed in `PruneResult.skipped`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.sparsity import PolynomialDecay, check_pruning_settings, pruning_steps, zero_fraction
from tfmodel.backend import tf
from tfmodel.errors import UserError
from tfmodel.files import replace_atomically
from tfmodel.keras3 import keras

MASKS_PREFIX = "masks-"  # a backup's masks: masks-<optimizer step>.npz

# Layer classes whose 2-or-more-dimensional weights are all kernels a mask may zero.
PRUNABLE_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


@dataclass(frozen=True)
class PruneResult:
    """The stripped model (a new, uncompiled copy, so its `.keras` file loads anywhere; the
    model given is left alone), each pruned kernel's fraction of zeros by variable path (e.g.
    `conv1/kernel`, as `variable.path` names it), and the names of the layers with a kernel
    left whole."""

    model: keras.Model
    sparsity: dict[str, float]
    skipped: list[str]


def prune_keras3_model(
    model: keras.Model,
    train: tf.data.Dataset,
    *,
    target_sparsity: float,
    epochs: int,
    optimizer: keras.optimizers.Optimizer,
    loss: Any,
    steps_per_epoch: int | None = None,
    initial_sparsity: float = 0.0,
    begin_step: int = 0,
    end_step: int | None = None,
    power: float = 3,
    frequency: int | None = None,
    metrics: Sequence[Any] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    backup: Path | None = None,
) -> PruneResult:
    """Fine-tune a copy of `model` on `train` for `epochs` while pruning its kernels to
    `target_sparsity`, then strip the masks.

    `model` is copied from its config (functional, Sequential, or a subclass its config
    rebuilds). `train` yields (inputs, targets) batches, as `model.fit` takes them (a
    stream is fine: give `steps_per_epoch` when it repeats or its length is unknown).
    `optimizer` (the project's: `tfmodel.optimizers.keras3.make_keras3_optimizer`) and `loss`
    (and `metrics`) compile the copy; `callbacks` and `verbose` go to its `fit`: with a
    BackupAndRestore among them, `backup` is where the masks are saved beside it. The schedule is
    TFMOT's PolynomialDecay from `initial_sparsity` to `target_sparsity`; `end_step` and
    `frequency` default as edge.prune's (the target after ~3/4 of the steps, 20 mask updates).
    The copy is compiled with one step per execution, so the masks follow every step.
    """
    check_pruning_settings(target_sparsity, epochs)
    steps = steps_per_epoch or _finite_length(train)
    default_end, default_frequency = pruning_steps(steps * epochs)
    schedule = PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=target_sparsity,
        begin_step=begin_step,
        end_step=default_end if end_step is None else end_step,
        power=power,
        frequency=frequency or default_frequency,
    )
    copy = plain_copy(model)
    pruning = MagnitudePruning(copy, schedule, backup)
    copy.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), steps_per_execution=1)
    copy.fit(
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[pruning, *callbacks],
        shuffle=False,  # a dataset is shuffled (or not) by whoever built it
        verbose=verbose,
    )
    pruning.strip()
    sparsity = {path: zero_fraction([kernel.numpy()]) for path, kernel in pruning.kernels()}
    return PruneResult(plain_copy(copy), sparsity, skipped_layers(copy))


class MagnitudePruning(keras.callbacks.Callback):
    """Masks on the prunable kernels of `model`, updated on `schedule`, applied after each step.

    Construction sets each kernel's constraint to "its own constraint, then the mask"; `strip()`
    puts the kernels' own constraints back. Use it as a `fit` callback between the two. With a
    `backup` folder it saves the masks there at each epoch's end, before a BackupAndRestore after
    it in the callback list saves the weights, as `masks-<optimizer step>.npz` (the last two kept,
    so a kill between the two saves leaves the masks of the weights left); a restart's first step
    loads the masks saved at the step the weights were restored to.
    """

    def __init__(
        self, model: keras.Model, schedule: PolynomialDecay, backup: Path | None = None
    ) -> None:
        super().__init__()
        self.schedule = schedule
        self.backup = backup
        self._restored = backup is None
        self._masks: list[tuple[keras.Variable, keras.Variable, Any]] = []
        for layer in prunable_layers(model):
            for kernel in _kernels(layer):
                mask = keras.Variable(
                    np.ones(kernel.shape, kernel.dtype), trainable=False, name="mask"
                )
                self._masks.append((kernel, mask, kernel.constraint))
                kernel.constraint = _masked(kernel.constraint, mask)

    def kernels(self) -> Iterator[tuple[str, keras.Variable]]:
        """(path, variable) of every masked kernel."""
        for kernel, _, _ in self._masks:
            yield kernel.path, kernel

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = int(self.model.optimizer.iterations)
        if not self._restored:
            self._restore_masks(step)
        due, sparsity = self.schedule(step)
        if due:
            for kernel, mask, _ in self._masks:
                mask.assign(magnitude_mask(kernel.numpy(), sparsity))
                kernel.assign(kernel * mask)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.backup is None:
            return
        step = int(self.model.optimizer.iterations)
        masks = {str(i): mask.numpy() for i, (_, mask, _) in enumerate(self._masks)}
        self.backup.mkdir(parents=True, exist_ok=True)
        replace_atomically(self._masks_file(step), lambda partial: _save_npz(partial, masks))
        for old in sorted(self.backup.glob(f"{MASKS_PREFIX}*.npz"), key=_step_of)[:-2]:
            old.unlink()

    def _restore_masks(self, step: int) -> None:
        """The masks saved at `step`, if a backup holds them (a resumed fine-tune)."""
        self._restored = True
        if self._masks_file(step).is_file():
            with np.load(self._masks_file(step)) as saved:
                for i, (_, mask, _) in enumerate(self._masks):
                    mask.assign(saved[str(i)])

    def _masks_file(self, step: int) -> Path:
        return self.backup / f"{MASKS_PREFIX}{step}.npz"

    def strip(self) -> None:
        """Apply the masks once more, then give each kernel back its own constraint."""
        for kernel, mask, own in self._masks:
            kernel.assign(kernel * mask)
            kernel.constraint = own


def plain_copy(model: keras.Model) -> keras.Model:
    """A new, uncompiled model of the same layer classes with `model`'s weights, rebuilt from
    its config as a `.keras` file would be (`keras.models.clone_model` would compile it again)."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """0/1 of `weights`' shape keeping the round(size·(1 − sparsity)) largest magnitudes (as TFMOT
    counts them); ties at the threshold are broken by position, so the count is exact."""
    keep = int(np.round(weights.size * (1 - sparsity)))
    order = np.argsort(np.abs(weights), axis=None, kind="stable")
    mask = np.zeros(weights.size, weights.dtype)
    mask[order[weights.size - keep :]] = 1
    return mask.reshape(weights.shape)


def prunable_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model`, nested models included, whose kernels get a mask."""
    return [layer for layer in _all_layers(model) if isinstance(layer, PRUNABLE_LAYERS)]


def skipped_layers(model: keras.Model) -> list[str]:
    """Names of the layers with a kernel that are not pruned (their class is not one we know)."""
    return [
        layer.name
        for layer in _all_layers(model)
        if _kernels(layer) and not isinstance(layer, PRUNABLE_LAYERS)
    ]


def _all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _kernels(layer: keras.layers.Layer) -> list[keras.Variable]:
    """The layer's own weight matrices: weights of 2 or more dimensions (no biases,
    no BatchNorm statistics)."""
    return [w for w in layer.weights if len(w.shape) >= 2]


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as f:  # a file object: np.savez would add .npz to a partial's name
        np.savez(f, **arrays)


def _step_of(masks_file: Path) -> int:
    return int(masks_file.stem.removeprefix(MASKS_PREFIX))


def _masked(own: Callable | None, mask: keras.Variable) -> Callable:
    """The constraint `own` (if any), then multiplication by `mask`."""

    def constraint(weights: Any) -> Any:
        return (weights if own is None else own(weights)) * mask

    return constraint


def _finite_length(train: tf.data.Dataset) -> int:
    length = int(train.cardinality())
    if length < 1:
        raise UserError(
            "the pruning data has no known length (a repeated or filtered stream); give "
            "steps_per_epoch, the number of batches per epoch"
        )
    return length
