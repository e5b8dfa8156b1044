"""The pieces of exact resume that a kill at the wrong moment would break, checked without one."""

import numpy as np
import pytest

from tfmodel.backend import keras
from tfmodel.resume import BestCheckpoint


class Killed(Exception):
    """Stands in for SIGKILL arriving while a file is being written."""


def best_checkpoint(path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    checkpoint = BestCheckpoint(
        str(path), monitor="val_loss", save_best_only=True, save_weights_only=True
    )
    checkpoint.set_model(model)
    return model, checkpoint


def weights_in(model, path):
    copy = keras.models.clone_model(model)
    copy.load_weights(str(path))
    return copy.get_weights()


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_best_weights_are_written_at_the_backup_and_the_model_keeps_its_own(tmp_path):
    path = tmp_path / "best.weights.h5"
    model, checkpoint = best_checkpoint(path)
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})  # an improvement: kept, not yet written
    best = model.get_weights()
    assert not path.exists()
    model.set_weights([w + 1 for w in best])  # the next epoch trains on...
    checkpoint.on_epoch_end(1, {"val_loss": 2.0})  # ...and does not improve
    current = model.get_weights()

    checkpoint.write_pending()  # the backup
    assert same(weights_in(model, path), best)
    assert same(model.get_weights(), current)
    written = path.read_bytes()
    checkpoint.write_pending()  # nothing new since: nothing written
    assert path.read_bytes() == written


def test_a_best_checkpoint_write_that_dies_leaves_the_last_complete_file(tmp_path):
    path = tmp_path / "best.weights.h5"
    model, checkpoint = best_checkpoint(path)
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    checkpoint.write_pending()
    saved = path.read_bytes()

    def dies_mid_write(filepath, **kwargs):
        with open(filepath, "wb") as half:
            half.write(saved[: len(saved) // 2])
        raise Killed

    model.set_weights([w + 1 for w in model.get_weights()])
    checkpoint.on_epoch_end(1, {"val_loss": 0.5})  # an improvement: written at the next backup
    current = model.get_weights()
    model.save_weights = dies_mid_write
    with pytest.raises(Killed):
        checkpoint.write_pending()
    assert path.read_bytes() == saved
    assert same(model.get_weights(), current)  # the model keeps its weights through the failure
    assert not same(weights_in(model, path), current)  # still opens, with the first best
