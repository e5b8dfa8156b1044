"""What a Keras 3 model's fit differs in: the settings Keras 3 cannot train with yet, refused
before the run folder exists, and its callbacks (of Keras 3, never tf_keras').

Keras 3 on tf.distribute (TF backend): MultiWorkerMirroredStrategy fails (KERAS3_MULTI_WORKER),
MirroredStrategy fits one step per execution (`strategies.steps_per_execution`, said here once).
Its models train in float32, in one phase, and a killed run starts over: the exact replay of
`tfmodel.resume` is built on tf_keras' BackupAndRestore.
"""

from __future__ import annotations

from typing import Any

from tfmodel import runs
from tfmodel.config import Config
from tfmodel.distribute import strategies
from tfmodel.errors import UserError
from tfmodel.training.run_folder import RunFolder
from tfmodel.training.setting import Setting

KERAS3_MULTI_WORKER = "keras-team/keras#20585"


def check_keras3_setting(config: Config, setting: Setting, where: str) -> None:
    """UserError for what a Keras 3 model cannot train with here; the step limit said once."""
    info = setting.info
    if info.kind == "multi_worker":
        raise UserError(
            f"{where} is a Keras 3 model, which cannot train under --strategy multi_worker: "
            f"Keras 3 fails under MultiWorkerMirroredStrategy ({KERAS3_MULTI_WORKER}, open); use "
            "--strategy mirrored on one machine, or write the model with tf_keras"
        )
    if setting.policy != "float32":
        raise UserError(
            f"{where} is a Keras 3 model, which trains in float32 here, but the precision is "
            f"{setting.policy}; set training.precision=float32"
        )
    if config.model.freeze_epochs:
        raise UserError(
            f"{where} is a Keras 3 model, which trains in one phase here; set "
            "model.freeze_epochs=0 (freeze its base in the model itself)"
        )
    asked = strategies.steps_per_execution(config.training.steps_per_execution)
    if strategies.steps_per_execution(asked, info, keras3=True) < asked:
        print(
            f"steps per execution 1 (not {asked}): Keras 3 under MirroredStrategy fits one step "
            "per execution"
        )
    print("Keras 3 model: a run killed part way starts over (exact resume is tf_keras only)")


def keras3_callbacks(config: Config, folder: RunFolder, keras: Any, *, has_val: bool) -> list[Any]:
    """Keras 3's callbacks for the run folder: early stopping, TensorBoard, history.csv."""
    patience = config.training.early_stopping_patience
    monitor = "val_loss" if has_val else "loss"
    stopping = keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, restore_best_weights=True
    )
    return [
        *([stopping] if patience else []),
        keras.callbacks.TensorBoard(str(folder.write_dir / runs.LOGS_DIR)),
        keras.callbacks.CSVLogger(str(folder.write_dir / runs.HISTORY_FILE)),
    ]
