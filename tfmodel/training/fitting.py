"""The model and its fit: built and compiled in the strategy's scope and precision, then
model.fit once per training phase (`tfmodel.models.transfer`) with the run's callbacks, whose
backups let a restart pick up in the phase and epoch it stopped in (`tfmodel.resume`). A Keras 3
model (a user's) is compiled by the same recipe and fits with its own Keras' callbacks
(`keras3_fit`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tfmodel.config import Config
from tfmodel.training.run_folder import RunFolder
from tfmodel.training.setting import Setting, global_policy


@dataclass
class FitClock:
    """Wall seconds of this session's fit, and of each epoch it trained (from the epoch's start
    to its callbacks' end: validation and backups included, so the first holds the tracing)."""

    seconds: float = 0.0
    epochs: list[float] = field(default_factory=list)


def epoch_clock(keras: Any, epochs: list[float]) -> Any:
    """A callback of `keras` (tf_keras or Keras 3) appending each epoch's wall seconds to
    `epochs`; put it last, so an epoch's end counts every other callback's."""

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            epochs.append(time.perf_counter() - self.began)

    return EpochClock()


def build_model_and_phases(config: Config, setting: Setting) -> tuple[Any, list[Any]]:
    """The configured network, built in the strategy's scope and precision, and its training
    phases (`tfmodel.models.transfer`); compiled for the first, so a bad setting stops here."""
    from tfmodel.models import build_model, transfer
    from tfmodel.models.checks import named_by
    from tfmodel.models.model_keras import keras_of

    phases = transfer.plan_phases(config.model, config.optimizer, config.training.epochs)
    splits = setting.splits
    user_model = bool(config.model.builder or config.model.from_keras)
    with setting.info.strategy.scope(), global_policy(setting.policy, user_model=user_model):
        model = build_model(
            config.model,
            config.regularizer,
            splits.input_shape,
            splits.num_classes,
            splits.pixel_max,
            convertible=config.edge.enabled,
        )
    if keras_of(model).is_keras3:
        from tfmodel.training.keras3_fit import check_keras3_setting

        check_keras3_setting(config, setting, model, named_by(config.model))
    else:
        transfer.check_transfer(model, config.model)
    _compile_phase(config, setting, model, phases[0])
    return model, phases


def run_steps_per_execution(config: Config, info: Any, model: Any, steps_per_epoch: int) -> int:
    """The train steps per `tf.function` call a run (or a tuning trial) compiles `model` with:
    the strategy's rule (`strategies.steps_per_execution`), then Keras 3's (`keras3_fit`)."""
    from tfmodel.distribute import strategies
    from tfmodel.models.model_keras import keras_of

    steps = strategies.steps_per_execution(config.training.steps_per_execution, info, model)
    if keras_of(model).is_keras3:
        from tfmodel.training.keras3_fit import keras3_steps_per_execution

        steps, _ = keras3_steps_per_execution(steps, info.kind, steps_per_epoch)
    return steps


def _compile_phase(config: Config, setting: Setting, model, phase) -> None:
    """Make trainable what `phase` trains and compile with its optimizer, whose schedule runs
    over the phase's epochs, in the strategy's scope (the optimizer's slots are mirrored)."""
    from tfmodel.distribute import strategies
    from tfmodel.models import compile_for_training, transfer

    info = setting.info
    steps = run_steps_per_execution(config, info, model, setting.batches.steps_per_epoch)
    with info.strategy.scope(), global_policy(setting.policy):
        transfer.set_phase(model, config.model, phase)
        compile_for_training(
            model,
            phase.optimizer,
            setting.batches.steps_per_epoch,
            phase.end_epoch - phase.first_epoch,
            learning_rate_scale=strategies.learning_rate_scale(
                info, config.optimizer.scale_learning_rate
            ),
            steps_per_execution=steps,
            jit_compile=config.training.jit_compile,
        )


def fit(
    config: Config,
    setting: Setting,
    folder: RunFolder,
    model,
    phases,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[int, FitClock]:
    """model.fit per phase with the run's callbacks (backups for exact resume), then
    `extra_callbacks` (of the model's Keras; a benchmark's clock), from the phase a restart left
    off in; returns the epochs trained in this session and their seconds."""
    from tfmodel.resume import backup_dir, has_backup

    backed_up = [has_backup(backup_dir(folder.run_dir, p.name)) for p in phases]
    first = max((i for i, done in enumerate(backed_up) if done), default=0)
    began, epochs_run, best, clock = time.perf_counter(), 0, None, FitClock()
    for index in range(first, len(phases)):
        if index:  # the first phase was compiled with the model
            _compile_phase(config, setting, model, phases[index])
        phase = phases[index]
        trained, best = _fit_phase(
            config, setting, folder, model, phase, best, clock, extra_callbacks
        )
        epochs_run += trained
    if not epochs_run:  # the backup said fit had finished; the record had not been written
        print("every epoch was trained before the restart: only testing and recording are left")
    clock.seconds = time.perf_counter() - began
    return epochs_run, clock


def _fit_phase(
    config: Config,
    setting: Setting,
    folder: RunFolder,
    model,
    phase,
    best: float | None,
    clock: FitClock,
    extra_callbacks: Sequence[Any],
) -> tuple[int, float]:
    """One phase's model.fit, its epochs timed on `clock`; returns its epochs trained and the
    best monitored value so far."""
    from tfmodel.models.model_keras import keras_of

    model_keras = keras_of(model)
    if model_keras.is_keras3:
        from tfmodel.training.keras3_fit import fit_keras3

        last = [epoch_clock(model_keras.keras, clock.epochs), *extra_callbacks]
        return fit_keras3(config, setting, folder, model, last), best
    from tfmodel.resume import BackupPlan, BestCheckpoint, make_callbacks

    backup = BackupPlan(
        setting.data_epoch,
        setting.batches.steps_per_epoch,
        write=folder.chief,
        every_s=setting.backup_every_s,
        first_epoch=phase.first_epoch,
    )
    callbacks = make_callbacks(
        config,
        folder.run_dir,
        folder.write_dir,
        backup,
        has_val=setting.batches.validation is not None,
        resuming=folder.resuming,
        phase=phase.name,
        best=best,
    )
    if phase.name:
        print(f"phase {phase.name}: epochs {phase.first_epoch + 1} to {phase.end_epoch}")
    history = model.fit(
        **setting.batches.fit_arguments(),
        initial_epoch=phase.first_epoch,
        epochs=phase.end_epoch,
        callbacks=[*callbacks, epoch_clock(model_keras.keras, clock.epochs), *extra_callbacks],
        verbose=config.training.verbose,
    )
    checkpoint = next(c for c in callbacks if isinstance(c, BestCheckpoint))
    return len(history.epoch), checkpoint.best
