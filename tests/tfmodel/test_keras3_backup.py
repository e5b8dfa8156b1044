"""A Keras 3 fit backs up as `training.backup_every_s` says, as a tf_keras one does: at an epoch's
end once that many seconds have passed since the last backup (0: every epoch), and when fit
returns, marked as done, so a restart trains no epoch again."""

import json

import numpy as np
import pytest

from tfmodel.training.keras3_fit import Keras3Backup

EPOCHS, STEPS = 3, 2


def fit_with_backup(tmp_path, every_s: float) -> tuple[list, Keras3Backup, object]:
    """A tiny Keras 3 fit of EPOCHS epochs with its backup; the epoch a restart would begin at,
    read from the backup after each epoch's end (None: no backup yet), and the fit's history."""
    from tfmodel.backend import tf
    from tfmodel.keras3 import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    logger = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"), append=True)
    data_epoch = tf.Variable(0, dtype=tf.int64)
    backup = Keras3Backup(tmp_path / "backup", data_epoch, STEPS, logger, every_s)
    seen = []

    def read_backup(epoch, logs):
        seen.append(resume_epoch(backup) if (tmp_path / "backup").is_dir() else None)

    probe = keras.callbacks.LambdaCallback(on_epoch_end=read_backup)
    x = np.ones((STEPS * 4, 4), np.float32)
    history = model.fit(
        x, x[:, :2], batch_size=4, epochs=EPOCHS, callbacks=[logger, backup, probe], verbose=0
    )
    return seen, backup, history


def resume_epoch(backup: Keras3Backup) -> int:
    """The epoch a restart begins at, from Keras' own record in the backup."""
    with open(backup._training_metadata_path) as file:
        return json.load(file)["epoch"]


@pytest.mark.parametrize("every_s", [0.0, 1e9], ids=["every-epoch", "none-due-during-fit"])
def test_a_keras3_fit_backs_up_as_often_as_backup_every_s_says(tmp_path, every_s):
    seen, backup, _ = fit_with_backup(tmp_path, every_s)
    assert seen == ([1, 2, 3] if every_s == 0 else [None] * EPOCHS)
    assert resume_epoch(backup) == EPOCHS  # fit returned: every epoch is done
    _, again, history = fit_with_backup(tmp_path, every_s)  # a restart of the same run
    assert history.epoch == [] and int(again.data_epoch.numpy()) == EPOCHS
