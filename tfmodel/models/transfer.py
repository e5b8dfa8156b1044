"""Transfer learning: train the new head with the base frozen, then fine-tune the base's top layers.

A run with `model.freeze_epochs: N` has two phases, one `model.fit` each:

- `frozen`, the first N of `training.epochs`: every base layer is frozen, only the head trains;
- `fine_tune`, the epochs left: the top `model.fine_tune_layers` base layers (a count, or `all`)
  train too, with a new optimizer at `model.fine_tune_learning_rate` (default a tenth of
  `optimizer.learning_rate`), its schedule running over this phase's epochs.

The head is the model's last Dense layer and whatever follows it; the base is every layer before
it that holds weights (nested models are looked into). For a named network that is the
keras.applications body; for a `model.builder` or `model.from_keras` model, all but its head.
`fine_tune_layers` counts those layers from the top, as listed by `model.layers`.
BatchNormalization layers of the base stay frozen in both phases: a frozen BatchNorm runs in
inference mode (its moving statistics kept), as Keras' transfer-learning guide advises for
fine-tuning too, so a few small batches cannot wreck the statistics the base was trained with.
"""

from __future__ import annotations

import dataclasses

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, OptimizerConfig
from tfmodel.errors import UserError
from tfmodel.models.checks import named_by

FROZEN, FINE_TUNE = "frozen", "fine_tune"  # the phases, as history.csv's `phase` column says


@dataclasses.dataclass(frozen=True)
class Phase:
    """One `model.fit` of a run: its epochs [first_epoch, end_epoch) and its optimizer."""

    name: str | None  # FROZEN or FINE_TUNE; None: a run without transfer learning, one phase
    first_epoch: int
    end_epoch: int
    optimizer: OptimizerConfig


def plan_phases(model_cfg: ModelConfig, optimizer_cfg: OptimizerConfig, epochs: int) -> list[Phase]:
    """The run's phases: one without `model.freeze_epochs`, else frozen then fine-tuning."""
    frozen = model_cfg.freeze_epochs
    if frozen == 0:
        for key, value, default in (
            ("fine_tune_layers", model_cfg.fine_tune_layers, "all"),
            ("fine_tune_learning_rate", model_cfg.fine_tune_learning_rate, None),
        ):
            if value != default:
                raise UserError(
                    f"model.{key} is {value!r} but model.freeze_epochs is 0: set "
                    "model.freeze_epochs to the epochs that train the head alone first"
                )
        return [Phase(None, 0, epochs, optimizer_cfg)]
    if not 0 < frozen <= epochs:
        raise UserError(
            f"model.freeze_epochs is {frozen}, training.epochs {epochs}: give the head 1 to "
            f"{epochs} epochs alone (the rest fine-tune), or 0 to train everything at once"
        )
    rate = model_cfg.fine_tune_learning_rate
    if rate is None:
        rate = optimizer_cfg.learning_rate / 10
    if rate <= 0:
        raise UserError(
            f"model.fine_tune_learning_rate is {rate}; give a positive rate, usually a tenth "
            "of optimizer.learning_rate or less"
        )
    phases = [Phase(FROZEN, 0, frozen, optimizer_cfg)]
    if frozen < epochs:
        tuned = dataclasses.replace(optimizer_cfg, learning_rate=rate)
        phases.append(Phase(FINE_TUNE, frozen, epochs, tuned))
    return phases


def check_transfer(model: keras.Model, model_cfg: ModelConfig) -> None:
    """UserError unless `model` has a base to freeze and `fine_tune_layers` fits in it."""
    if model_cfg.freeze_epochs == 0:
        return
    where = named_by(model_cfg)
    head = _head_start(_leaves(model))
    base = base_layers(model)
    if head is None or not base:
        found = "no Dense layer" if head is None else "nothing with weights before its last Dense"
        raise UserError(
            f"model.freeze_epochs needs a base to freeze, but {where} has {found} (the head is "
            "the last Dense layer, the base every layer before it); set model.freeze_epochs 0"
        )
    layers = model_cfg.fine_tune_layers
    if isinstance(layers, str) and layers != "all":
        raise UserError(f"model.fine_tune_layers is {layers!r}: give a number of layers or all")
    if isinstance(layers, int) and not 0 <= layers <= len(base):
        raise UserError(
            f"model.fine_tune_layers is {layers} but the base of {where} has {len(base)} layers "
            f"with weights; give 0 to {len(base)}, or all"
        )


def base_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers holding weights before the head (the last Dense layer), bottom to top."""
    leaves = _leaves(model)
    head = _head_start(leaves)
    return [layer for layer in leaves[: head or 0] if layer.weights]


def set_phase(model: keras.Model, model_cfg: ModelConfig, phase: Phase) -> None:
    """Make trainable what `phase` trains: the head alone (frozen) or the head and the top base
    layers but their BatchNorms (fine_tune); a run without transfer learning is left as built."""
    if phase.name is None:
        return
    model.trainable = True  # also every nested model, so their own layers' flags count
    base = base_layers(model)
    count = len(base) if model_cfg.fine_tune_layers == "all" else model_cfg.fine_tune_layers
    tuned = base[len(base) - count :] if phase.name == FINE_TUNE else []
    for layer in base:
        batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer in tuned and not batch_norm


def _leaves(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """`layer`'s layers in order, nested models opened up; a plain layer is its own leaf."""
    if isinstance(layer, keras.Model):
        return [leaf for child in layer.layers for leaf in _leaves(child)]
    return [layer]


def _head_start(leaves: list[keras.layers.Layer]) -> int | None:
    """The index of the last Dense layer among `leaves`, None if there is none."""
    dense = [i for i, layer in enumerate(leaves) if isinstance(layer, keras.layers.Dense)]
    return dense[-1] if dense else None
