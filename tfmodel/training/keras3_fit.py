"""A Keras 3 model's fit: the settings Keras 3 cannot train with yet, refused before the run
folder exists, and its model.fit with Keras 3's callbacks (never tf_keras').

Keras 3 on tf.distribute (TF backend): MultiWorkerMirroredStrategy fails (KERAS3_MULTI_WORKER),
MirroredStrategy fits one step per execution only (MIRRORED_KINDS). Keras 3's fit also runs
whole executions: on the endless training batches, an epoch of 41 steps at 32 per execution
runs 64, so the steps per execution must divide the epoch's (`keras3_steps_per_execution`, said
once). Its models train in one phase; a builder's in the run's precision (its Keras 3 policy
set before it runs, `setting.global_policy`), a Keras 3 file's in float32 only.

Exact resume, as `tfmodel.resume` does it for tf_keras: Keras 3's BackupAndRestore saves the
weights and the optimizer (its slots and step, hence the schedule's position) at an epoch's end
and restarts at the next epoch. `Keras3Backup` backs up when `training.backup_every_s` seconds
have passed since the last backup (0: every epoch) and once more when fit returns, marking every
epoch done; on restore it sets the input pipeline's `data_epoch` to the next epoch, so a replayed
epoch sees the batches it saw the first time, and cuts history.csv back to the epochs the backup
holds. A run killed mid-epoch replays the epochs since the last backup from its end. The backup
stays until the run is recorded (`runs.finish_run` removes it). Early stopping's counters are not
carried over a restart (tf_keras' ExactBackup carries them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfmodel import runs
from tfmodel.config import Config
from tfmodel.distribute import strategies
from tfmodel.errors import UserError
from tfmodel.keras3 import keras
from tfmodel.resume import cut_history
from tfmodel.training.run_folder import RunFolder
from tfmodel.training.setting import Setting

KERAS3_MULTI_WORKER = "keras-team/keras#20585"
# Strategy kinds (`StrategyInfo.kind`) whose Keras 3 fit fails with more than one step per
# execution (a placeholder error in its while loop, cf. keras-team/keras#19246).
MIRRORED_KINDS = ("mirrored", "simulated_tpu")


def check_keras3_setting(config: Config, setting: Setting, model: Any, where: str) -> None:
    """UserError for what a Keras 3 model cannot train with here; the step limit said once."""
    refuse_keras3_setting(config, setting.info.kind, setting.policy, where)
    asked = strategies.steps_per_execution(config.training.steps_per_execution, setting.info, model)
    steps, why = keras3_steps_per_execution(
        asked, setting.info.kind, setting.batches.steps_per_epoch
    )
    if steps < asked:
        print(f"steps per execution {steps} (not {asked}): {why}")


def refuse_keras3_setting(config: Config, strategy_kind: str, policy: str, where: str) -> None:
    """UserError for a strategy, precision or phase a Keras 3 model (named by `where`) cannot
    train or tune with here."""
    if strategy_kind == "multi_worker":
        raise UserError(
            f"{where} is a Keras 3 model, which cannot train under --strategy multi_worker: "
            f"Keras 3 fails under MultiWorkerMirroredStrategy ({KERAS3_MULTI_WORKER}, open); use "
            "--strategy mirrored on one machine, or write the model with tf_keras"
        )
    if policy != "float32" and config.model.from_keras:
        raise UserError(
            f"{where} is a Keras 3 file, whose layers keep the precision they were saved in, so "
            f"it cannot train in {policy}; set training.precision=float32, or build the model "
            "with model.builder (built inside the run's precision)"
        )
    if config.model.freeze_epochs:
        raise UserError(
            f"{where} is a Keras 3 model, which trains in one phase here; set "
            "model.freeze_epochs=0 (freeze its base in the model itself)"
        )


def keras3_steps_per_execution(
    asked: int, strategy_kind: str, steps_per_epoch: int
) -> tuple[int, str]:
    """The steps per execution a Keras 3 fit takes, at most `asked`, and why if fewer: one under
    a MirroredStrategy, else the largest that divides the epoch's steps."""
    if strategy_kind in MIRRORED_KINDS:
        return 1, "Keras 3 under MirroredStrategy fits one step per execution"
    epoch = steps_per_epoch
    steps = max(n for n in range(1, min(asked, epoch) + 1) if epoch % n == 0)
    return steps, f"Keras 3 runs whole executions, so they must divide the epoch's {epoch} steps"


def fit_keras3(
    config: Config,
    setting: Setting,
    folder: RunFolder,
    model: Any,
    extra_callbacks: Sequence[Any] = (),
) -> int:
    """The Keras 3 model's model.fit, resumed from its backup if any, `extra_callbacks` called
    last; returns epochs trained."""
    callbacks = keras3_callbacks(config, folder, has_val=setting.batches.validation is not None)
    history_logger = next(c for c in callbacks if isinstance(c, keras.callbacks.CSVLogger))
    backup = Keras3Backup(
        folder.run_dir / runs.BACKUP_DIR,
        setting.data_epoch,
        setting.batches.steps_per_epoch,
        history_logger,
        setting.backup_every_s,
    )
    callbacks.append(backup)  # after CSVLogger: history.csv has the epoch's row when backed up
    history = model.fit(
        **setting.batches.fit_arguments(),
        shuffle=False,  # the dataset shuffles itself, by (seed, epoch)
        epochs=config.training.epochs,
        callbacks=[*callbacks, *extra_callbacks],
        verbose=config.training.verbose,
    )
    return len(history.epoch)


class Keras3Backup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore every `every_s` seconds at an epoch's end and when fit returns, plus the
    data order and history.csv on restore (a fit with no history.csv, edge fine-tuning, passes
    `history_logger=None`)."""

    def __init__(
        self,
        backup_dir: Path,
        data_epoch: Any,
        steps_per_epoch: int,
        history_logger: keras.callbacks.CSVLogger | None,
        every_s: float,
    ) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.data_epoch = data_epoch  # the train pipeline's first epoch
        self.steps_per_epoch = steps_per_epoch
        self.history_logger = history_logger
        self.every_s = every_s
        self._last_backup = time.monotonic()

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)  # restores weights and optimizer if a backup exists
        # Whole epochs done, counted by the restored optimizer's step (Keras resumes after them).
        next_epoch = int(self.model.optimizer.iterations.numpy()) // self.steps_per_epoch
        if self.history_logger is not None:
            cut_history(Path(self.history_logger.filename), next_epoch)
            self.history_logger.on_train_begin()  # it opened the file before the cut replaced it
        self.data_epoch.assign(next_epoch)
        self._last_backup = time.monotonic()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._current_epoch = epoch + 1  # the epoch a restart begins at (Keras' own field)
        if time.monotonic() - self._last_backup >= self.every_s:
            self._back_up()

    def on_train_end(self, logs=None) -> None:
        # Saved as done: a restart (after a kill while testing or recording) trains no epoch,
        # also when early stopping ended fit before its last epoch.
        self._current_epoch = self.params["epochs"]
        self._back_up()
        super().on_train_end(logs)

    def _back_up(self) -> None:
        self._save_model()
        self._last_backup = time.monotonic()


def keras3_callbacks(config: Config, folder: RunFolder, *, has_val: bool) -> list[Any]:
    """Keras 3's callbacks for the run folder: early stopping, TensorBoard, history.csv."""
    patience = config.training.early_stopping_patience
    monitor = "val_loss" if has_val else "loss"
    stopping = keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, restore_best_weights=True
    )
    return [
        *([stopping] if patience else []),
        keras.callbacks.TensorBoard(str(folder.write_dir / runs.LOGS_DIR)),
        keras.callbacks.CSVLogger(str(folder.write_dir / runs.HISTORY_FILE), append=True),
    ]
