"""Exact resume: a run killed at any point and started again ends as if it had never stopped.

Keras' BackupAndRestore checkpoints the weights and the optimizer (its slots and step count, hence
the learning-rate schedule's position) at the end of an epoch, and restarts at the next epoch.
`ExactBackup` takes that backup when `training.backup_every_s` seconds have passed since the last
one (a small model's epoch costs less than its checkpoint; 0: every epoch), and extends it with
what else decides how training goes on:

- the data order: the train pipeline shuffles each epoch by (seed, epoch number), counting from
  `data_epoch`, which is set to the first epoch to run, so a replayed epoch sees the same batches
  as the first time;
- the callbacks' state: ModelCheckpoint's best value, EarlyStopping's counters and best weights
  (reloaded from the best checkpoint, which holds the same weights);
- `history.csv`: cut back to the epochs the checkpoint holds, so no row is lost or doubled.

That state goes to `backup/state.json` just before the checkpoint, for the last two backups, so
whichever checkpoint a kill leaves behind has its matching state. The epochs since the last backup
are replayed from its end. When fit returns, one more backup marks every epoch as done, and it
stays until the run is recorded (`runs.finish_run` removes it): a restart after a kill during the
test evaluation or export, or an error there (a full disk), runs no epoch again. Dropout masks
are not replayed (their random state is not checkpointed).
`make_callbacks` is the whole callback list training uses, in the order this needs.

A transfer-learning run fits twice (`tfmodel.models.transfer`): the fine-tuning phase, compiled
with its own optimizer, backs up into its own folder inside `backup/`, counts its epochs on from
the frozen phase's, and appends to the same history.csv. A restart that finds a fine-tuning
checkpoint goes straight to that phase; otherwise the frozen phase restores its backup (trains
what is left of it, maybe nothing) and fine-tuning starts from its end, as it did the first time.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from tfmodel import runs
from tfmodel.backend import keras, tf
from tfmodel.config import Config
from tfmodel.files import replace_atomically, write_text_atomically
from tfmodel.models.transfer import FINE_TUNE

STATE_FILE = "state.json"


@dataclasses.dataclass(frozen=True)
class BackupPlan:
    """What `ExactBackup` needs from training besides the callbacks it keeps in step."""

    data_epoch: tf.Variable  # the train pipeline's first epoch; set to the next one on restore
    steps_per_epoch: int
    write: bool = True  # only the chief writes; every worker restores
    every_s: float = 0.0  # seconds between backups; the workers of a cluster back up together: 0
    first_epoch: int = 0  # epochs trained before this fit (by an earlier transfer phase)


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that keeps the best epoch's weights in memory and writes them to its file
    when the run backs up (`write_pending`), not at every improvement.

    tf_keras lays out a `.weights.h5` file by walking every layer's config, which on a network
    like MobileNetV2 costs many times the `get_weights` copy kept here, so the file is written
    once per backup (every `training.backup_every_s`) rather than once per improvement. It then
    always matches the backup a restart resumes from, whose state.json holds the same best value.
    The weights are the best epoch's; the optimizer's and metrics' variables that tf_keras writes
    beside them are those of the moment of writing (no restart reads them: `_weights_in`).

    h5py writes in place, and a restart reads this file back for EarlyStopping's best weights, so
    it is written beside itself and renamed into place: a kill mid-write leaves the last complete
    file.
    """

    _pending: tuple[str, list] | None = None  # (file, the best weights) not written yet

    def _save_handler(self, filepath: str) -> None:
        self._pending = (filepath, self.model.get_weights())

    def write_pending(self) -> None:
        """Write the best weights kept since the last write, if any, with the model's own.

        On a cluster every worker writes (saving reads the metrics' SyncOnRead variables, a
        collective op); a worker other than the chief writes into a temporary folder, which
        Keras removes right after each improvement, so it is made again here and removed after.
        """
        if self._pending is None:
            return
        filepath, best = self._pending
        save = super()._save_handler
        current = self.model.get_weights()
        self.model.set_weights(best)
        try:
            Path(filepath).parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(Path(filepath), lambda partial: save(str(partial)))
        finally:
            self.model.set_weights(current)
        self._maybe_remove_file()  # a temporary folder only; the chief's file stays
        self._pending = None


class ExactBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore plus data order, callback state and history, for exact resume.

    Put it after ModelCheckpoint, EarlyStopping and CSVLogger in the callback list: at each epoch
    end they have then recorded the epoch before its backup is taken. A fit with no history.csv
    (edge fine-tuning) passes `history_file=None` and no callbacks to `keep`.
    """

    def __init__(
        self,
        backup_dir: Path,
        plan: BackupPlan,
        history_file: Path | None,
        *,
        keep: list[keras.callbacks.Callback],
    ) -> None:
        super().__init__(str(backup_dir), delete_checkpoint=False)  # finish_run removes it
        # Keras' list omits OneDeviceStrategy, though its checkpointing works there unchanged.
        self._supported_strategies += (tf.distribute.OneDeviceStrategy,)
        self.state_path = Path(backup_dir) / STATE_FILE
        self.plan = plan
        self.history_file = history_file
        self.keep = keep  # ModelCheckpoint and EarlyStopping, whose state goes with the backup
        self._last_backup = (-1, time.monotonic())  # (epoch, when)

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)  # restores weights and optimizer if a backup exists
        next_epoch = self._epochs_done()
        saved = self._read_states().get(str(next_epoch - 1), {})
        for callback in self.keep:
            _restore(callback, saved.get(type(callback).__name__), self._best_checkpoint())
        if self.plan.write and self.history_file is not None:
            cut_history(self.history_file, next_epoch)
        self.plan.data_epoch.assign(next_epoch)
        self._last_backup = (next_epoch - 1, time.monotonic())

    def on_epoch_end(self, epoch, logs=None) -> None:
        if time.monotonic() - self._last_backup[1] >= self.plan.every_s:
            self._back_up(epoch)

    def on_train_end(self, logs=None) -> None:
        # Keras resumes at the epoch after the one saved: saved as the last, none is left to run.
        # The weights are final by now (EarlyStopping, before this, restored its best ones).
        self._training_state._ckpt_saved_epoch.assign(self.params["epochs"] - 1)
        self._back_up(self._epochs_done() - 1)
        super().on_train_end(logs)

    def _epochs_done(self) -> int:
        """Whole epochs trained so far, counted by this fit's optimizer's step (restored with it)
        from the epochs before this fit."""
        steps = int(self.model.optimizer.iterations.numpy())
        return self.plan.first_epoch + steps // self.plan.steps_per_epoch

    def _back_up(self, epoch: int) -> None:
        """The callbacks' state after `epoch` (kept with the last backup's), then the checkpoint."""
        last_epoch = self._last_backup[0]
        if self.plan.write:
            states = self._read_states()
            states = {key: value for key, value in states.items() if int(key) == last_epoch}
            states[str(epoch)] = {type(c).__name__: _state(c) for c in self.keep}
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(self.state_path, json.dumps(states))
        for callback in self.keep:
            if isinstance(callback, BestCheckpoint):
                callback.write_pending()
        self._backup(epoch)  # the checkpoint: this epoch is now done for good
        self._last_backup = (epoch, time.monotonic())

    def _best_checkpoint(self) -> Path | None:
        """The weights file ModelCheckpoint keeps the best epoch in, if there is one."""
        for callback in self.keep:
            if isinstance(callback, keras.callbacks.ModelCheckpoint):
                return Path(callback.filepath)
        return None

    def _read_states(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}


def make_callbacks(
    config: Config,
    run_dir: Path,
    write_dir: Path,
    plan: BackupPlan,
    *,
    has_val: bool,
    resuming: bool,
    phase: str | None = None,
    best: float | None = None,
) -> list[keras.callbacks.Callback]:
    """Best checkpoint, early stopping, TensorBoard, history CSV, then the backup for resume.

    ExactBackup comes last: at each epoch end the others have recorded the epoch before it is
    checkpointed. A transfer-learning `phase` (its name) writes it in history.csv and backs up
    in its own folder; `best` is the best monitored value of the phases before it.
    """
    monitor = "val_loss" if has_val else "loss"
    keep = [
        BestCheckpoint(
            str(write_dir / runs.CHECKPOINTS_DIR / runs.BEST_WEIGHTS_FILE),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best,
        )
    ]
    if config.training.early_stopping_patience:
        keep.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=config.training.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    history = write_dir / runs.HISTORY_FILE
    return [
        *keep,
        keras.callbacks.TensorBoard(str(write_dir / runs.LOGS_DIR)),
        PhaseCSVLogger(str(history), phase, append=resuming or plan.first_epoch > 0),
        ExactBackup(backup_dir(run_dir, phase), plan, history, keep=keep),
    ]


def backup_dir(run_dir: Path, phase: str | None) -> Path:
    """Where the backup of `phase` goes: fine-tuning in its own folder inside backup/."""
    inside = runs.FINE_TUNE_BACKUP_DIR if phase == FINE_TUNE else ""
    return run_dir / runs.BACKUP_DIR / inside


def has_backup(path: Path) -> bool:
    """Whether BackupAndRestore left a complete checkpoint in the backup folder `path`."""
    # BackupAndRestore's CheckpointManager writes into `chief/` (worker_training_state.py).
    return tf.train.latest_checkpoint(str(path / "chief")) is not None


class PhaseCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger that writes the transfer-learning phase (`phase` column) beside the metrics."""

    def __init__(self, filename: str, phase: str | None, *, append: bool) -> None:
        super().__init__(filename, append=append)
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None) -> None:
        extra = {runs.PHASE_COLUMN: self.phase} if self.phase else {}
        super().on_epoch_end(epoch, {**(logs or {}), **extra})


_EARLY_STOPPING_KEYS = ("wait", "stopped_epoch", "best", "best_epoch")


def _state(callback: keras.callbacks.Callback) -> dict[str, float]:
    if isinstance(callback, keras.callbacks.EarlyStopping):
        return {key: float(getattr(callback, key)) for key in _EARLY_STOPPING_KEYS}
    return {"best": float(callback.best)}


def _restore(
    callback: keras.callbacks.Callback, state: dict[str, float] | None, best_file: Path | None
) -> None:
    if not state:
        return
    callback.best = state["best"]
    if isinstance(callback, keras.callbacks.EarlyStopping):
        callback.wait = int(state["wait"])
        callback.stopped_epoch = int(state["stopped_epoch"])
        callback.best_epoch = int(state["best_epoch"])
        if callback.restore_best_weights and best_file is not None and best_file.is_file():
            callback.best_weights = _weights_in(callback.model, best_file)


def _weights_in(model: keras.Model, path: Path) -> list:
    """The weights stored in `path`, read through a copy of `model`.

    ModelCheckpoint's best file holds EarlyStopping's best weights too: both keep the epoch with
    the lowest monitored value. It is read into an uncompiled copy because tf_keras' `.h5` weight
    files also hold the optimizer's variables, which loading into `model` would roll back.
    """
    copy = keras.models.clone_model(model)
    copy.load_weights(str(path))
    return copy.get_weights()


def cut_history(path: Path, epochs: int) -> None:
    """Keep history.csv's header and first `epochs` rows (a replayed epoch adds its own)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) > epochs + 1:
        replace_atomically(path, lambda partial: _write_rows(partial, rows[: epochs + 1]))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
