"""The pieces of exact resume that a kill at the wrong moment would break, checked without one."""

import numpy as np
import pytest

from tfmodel.backend import keras
from tfmodel.resume import AtomicModelCheckpoint


class Killed(Exception):
    """Stands in for SIGKILL arriving while a file is being written."""


def test_a_best_checkpoint_write_that_dies_leaves_the_last_complete_file(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "best.weights.h5"
    checkpoint = AtomicModelCheckpoint(
        str(path), monitor="val_loss", save_best_only=True, save_weights_only=True
    )
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    saved = path.read_bytes()

    def dies_mid_write(filepath, **kwargs):
        with open(filepath, "wb") as half:
            half.write(saved[: len(saved) // 2])
        raise Killed

    model.save_weights = dies_mid_write
    with pytest.raises(Killed):
        checkpoint.on_epoch_end(1, {"val_loss": 0.5})  # an improvement: it writes
    assert path.read_bytes() == saved
    copy = keras.models.clone_model(model)
    copy.load_weights(str(path))  # still opens
    weights = zip(copy.get_weights(), model.get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in weights)
