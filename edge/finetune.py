"""Fine-tune a trained model with some of its layers wrapped (for pruning or quantization-aware
training) as training fits: its batches, recipe, progress bar and backups.

The batches are training's own (`tfmodel.training.setting.fit_data`): a photo folder or TFDS set
is decoded a batch at a time with the run's augmentation, each epoch in the order drawn from
(seed, epoch). The model is compiled by training's recipe with training's steps per execution
(pruning: one, as TFMOT's pruning step advances once per call).
Given a backup folder, the fit backs up as training does (`tfmodel.resume.ExactBackup` every
`training.backup_every_s`; Keras 3's `Keras3Backup` every epoch), so an `edge.optimize` killed
in its fine-tune and run again resumes from the last backup and ends with the weights an
uninterrupted run ends with. A backup is marked with what it started from (the config and the
weights before fine-tuning): one left by another model or setting is discarded, not resumed.

Only layers tfmot knows can be wrapped: preprocessing (Rescaling) and reshaping (Flatten)
layers cannot, so the model is cloned layer by layer and only the layers the caller selects (those
with a kernel its tfmot API takes) are wrapped; the rest stay as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfmodel.backend import keras, tf
from tfmodel.config import Config
from tfmodel.data import Splits, StreamedSplits
from tfmodel.distribute import strategies
from tfmodel.models import compile_for_training
from tfmodel.training.setting import FitBatches, fit_data

# In the edge output folder while a fine-tune can be resumed (one folder per source model:
# pruned/, qat/); edge.optimize removes it once the folder is complete.
BACKUP_DIR = "backup"
STARTED_FROM_FILE = "started_from.sha256"  # what the backup's fine-tune started from


@dataclass(frozen=True)
class FineTuneData:
    """Training's batches for a fine-tune and the variable its epochs' order counts from
    (a backup sets it to the epoch a restart resumes at)."""

    batches: FitBatches
    data_epoch: tf.Variable

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.steps_per_epoch


def fine_tune_data(splits: Splits | StreamedSplits, config: Config) -> FineTuneData:
    """The train split's batches as training draws them on one device (either Keras)."""
    data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    batches = fit_data(
        config, splits, config.data.batch_size, config.data.drop_remainder, data_epoch
    )
    return FineTuneData(batches, data_epoch)


def kernels(layer: keras.layers.Layer) -> list[Any]:
    """The layer's weight matrices (Dense/Conv kernels, depthwise kernels): weights of 2 or more
    dimensions, so biases and BatchNorm's per-channel statistics are left out."""
    return [w for w in layer.weights if len(w.shape) >= 2]


def wrap_layers(
    model: keras.Model,
    wrap: Callable[[keras.layers.Layer], Any],
    selected: Callable[[keras.layers.Layer], bool],
) -> keras.Model:
    """A copy of `model` with every layer for which `selected(layer)` replaced by `wrap(layer)`.

    The model is first copied with its weights, so wrapping (which adds masks or quantizer
    variables around the layer's own kernel) never touches the original model.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return keras.models.clone_model(
        copy,
        clone_function=lambda layer: wrap(layer) if selected(layer) else layer,
    )


def finetune(
    model: keras.Model,
    data: FineTuneData,
    config: Config,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backup: Path | None = None,
    steps_per_execution: int | None = None,
) -> keras.Model:
    """Train the tf_keras `model` for `epochs` more epochs on `data` as training does (with
    training's steps per execution unless given), backing up into `backup` (resuming from it)
    when given; returns the model."""
    keras.utils.set_random_seed(config.training.seed)
    steps = steps_per_execution or strategies.steps_per_execution(
        config.training.steps_per_execution
    )
    compile_for_training(
        model,
        config.optimizer,
        data.steps_per_epoch,
        epochs,
        steps_per_execution=steps,
        jit_compile=config.training.jit_compile,
    )
    if backup is not None:
        callbacks = [*callbacks, tf_keras_backup(model, data, config, backup)]
    model.fit(
        data.batches.train,
        steps_per_epoch=data.steps_per_epoch,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=config.training.verbose,
    )
    return model


def tf_keras_backup(
    model: keras.Model, data: FineTuneData, config: Config, backup: Path
) -> keras.callbacks.Callback:
    """Training's ExactBackup of `model`'s fine-tune into `backup` (no history, no best
    checkpoint: the fine-tune keeps its last weights)."""
    from tfmodel.resume import BackupPlan, ExactBackup

    prepare_backup(backup, model, config)
    plan = BackupPlan(data.data_epoch, data.steps_per_epoch, every_s=config.training.backup_every_s)
    return ExactBackup(backup, plan, None, keep=[])


def prepare_backup(backup: Path, model: Any, config: Config) -> None:
    """`backup` ready for a fine-tune of `model` under `config`: kept (to resume) if it was
    left by the same start, else emptied; then marked with this start."""
    started_from = fingerprint(model, config)
    mark = backup / STARTED_FROM_FILE
    if mark.is_file() and mark.read_text() == started_from:
        print(f"resuming the fine-tune from its backup in {backup}")
        return
    if backup.exists():
        print(f"discarding {backup}: a backup of another model or setting")
        shutil.rmtree(backup)
    backup.mkdir(parents=True)
    mark.write_text(started_from)


def fingerprint(model: Any, config: Config) -> str:
    """sha256 of the resolved config and the model's weights before fine-tuning."""
    digest = hashlib.sha256(
        json.dumps(dataclasses.asdict(config), sort_keys=True, default=str).encode()
    )
    for weights in model.get_weights():
        digest.update(weights.tobytes())
    return digest.hexdigest()
