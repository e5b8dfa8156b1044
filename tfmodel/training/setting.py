"""The setting a run trains in, decided before any model exists: the strategy, the precision,
the splits and the batches model.fit and evaluate draw from them.

Tuning starts alike (`start_strategy`) and fits on the same batches (`fit_data`), so a trial
runs where, and on what, its training run would.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfmodel.config import Config
from tfmodel.errors import UserError

if TYPE_CHECKING:  # for annotations only: TensorFlow is imported inside the functions that run
    from tfmodel.backend import tf
    from tfmodel.data import Splits, StreamedSplits
    from tfmodel.distribute.strategies import StrategyInfo


@dataclass(frozen=True)
class FitBatches:
    """The batches model.fit draws (`fit_data`): training's, endless, and validation's."""

    train: tf.data.Dataset  # (x, y) batches, repeating epoch after epoch
    steps_per_epoch: int
    validation: tf.data.Dataset | None  # (x, y, weight) batches; None when the split is empty

    def fit_arguments(self) -> dict[str, Any]:
        """model.fit's data arguments: x, steps_per_epoch and validation_data."""
        return {
            "x": self.train,
            "steps_per_epoch": self.steps_per_epoch,
            "validation_data": self.validation,
        }


@dataclass(frozen=True)
class Setting:
    """What the strategy and the data decided, before any model exists."""

    info: StrategyInfo
    policy: str  # the mixed-precision policy the model is built in
    splits: Splits | StreamedSplits
    global_batch: int
    static_shapes: bool  # TPUs compile one batch shape
    data_epoch: tf.Variable  # the epoch the input pipeline draws its order for
    batches: FitBatches
    backup_every_s: float
    listing_seconds: float  # loading the splits: an image folder's listing and bad-file check


def prepare(config: Config) -> Setting:
    """The strategy, the splits and the input pipelines, printed in one line."""
    from tfmodel import data
    from tfmodel.backend import tf
    from tfmodel.distribute import strategies

    info, policy = start_strategy(config)
    backup_every_s = _backup_every_s(config, info)  # a bad value stops before the data loads
    began = time.perf_counter()
    splits = data.load_splits(config.data, config.training.seed)
    listing_seconds = time.perf_counter() - began
    global_batch = strategies.global_batch_size(config.data.batch_size, info)
    static_shapes = info.is_tpu or config.data.drop_remainder
    data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # set by ExactBackup
    batches = fit_data(config, splits, global_batch, static_shapes, data_epoch)
    print(
        f"data {config.data.source}: train {len(splits.y_train)}, validation {len(splits.y_val)}, "
        f"test {len(splits.y_test)}; batch {config.data.batch_size} per replica × "
        f"{info.num_replicas} = {global_batch} global; precision {policy}"
    )
    return Setting(
        info,
        policy,
        splits,
        global_batch,
        static_shapes,
        data_epoch,
        batches,
        backup_every_s,
        listing_seconds,
    )


def start_strategy(config: Config) -> tuple[StrategyInfo, str]:
    """Seed, split the CPU if asked, pick the strategy and resolve the precision: (info, policy).

    Training and tuning start alike, so a tuning trial runs where its training run would. The
    policy is returned, not set globally: train sets it only while it builds the model.
    """
    from tfmodel.backend import keras
    from tfmodel.distribute import strategies

    keras.utils.set_random_seed(config.training.seed)
    cpu_devices = config.training.simulate_tpu or config.training.cpu_devices
    if cpu_devices:
        strategies.split_cpu(cpu_devices)
    info = strategies.make_strategy(
        config.training.strategy,
        tpu=config.training.tpu,
        gpus=config.training.gpus,
        simulate_tpu=config.training.simulate_tpu,
    )
    print(strategies.describe(info))
    return info, strategies.precision_policy(config.training.precision, info)


def _backup_every_s(config: Config, info: StrategyInfo) -> float:
    """Seconds between backups: the config's, but every epoch on a cluster, whose workers must
    save together (a checkpoint is a collective step) and so cannot each follow their own clock."""
    if config.training.backup_every_s < 0:
        raise UserError(
            f"training.backup_every_s is {config.training.backup_every_s}: use 0 (every epoch) "
            "or more seconds"
        )
    return config.training.backup_every_s if info.num_workers == 1 else 0.0


@contextlib.contextmanager
def global_policy(policy: str, *, user_model: bool = False):
    """Keras' global mixed-precision policy set to `policy` inside, and put back after.

    A user's builder may be written with Keras 3, whose policy is its own: for a `user_model`
    under a mixed policy it is set too, before the builder runs (so its layers are built in it).
    Keras 3 is imported only then: a float32 or built-in run never loads it.
    """
    from tfmodel.backend import keras

    kerases = [keras]
    if user_model and policy != "float32":
        from tfmodel.keras3 import keras as keras3

        kerases.append(keras3)
    previous = [k.mixed_precision.global_policy() for k in kerases]
    for k in kerases:
        k.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        for k, before in zip(kerases, previous, strict=True):
            k.mixed_precision.set_global_policy(before)


def fit_data(
    config: Config,
    splits: Splits | StreamedSplits,
    global_batch: int,
    static_shapes: bool,
    data_epoch: tf.Variable,
) -> FitBatches:
    """The batches model.fit draws: training's, its steps per epoch, and validation's (None when
    the split is empty).

    Training batches go on epoch after epoch, each epoch's order drawn from (seed, epoch) starting
    at `data_epoch` (a variable ExactBackup sets), so Keras keeps one iterator for the whole fit.
    With static shapes, training drops its short last batch (the next epoch reshuffles, so no
    example is left out for good) and validation pads it, so every example counts once. Training
    and tuning both fit with these, so a trial and its retraining see the same batches.
    """
    from tfmodel import data

    if isinstance(splits, data.StreamedSplits):
        train_ds = data.build_file_dataset(
            splits.train,
            splits.recipe,
            global_batch,
            seed=config.training.seed,
            epoch=data_epoch,
            repeat=True,
            drop_remainder=static_shapes,
            augment=config.data.augment,
            cache=config.data.cache,
        )
    else:
        train_ds = data.build_dataset(
            splits.x_train,
            splits.y_train,
            global_batch,
            shuffle=True,
            seed=config.training.seed,
            drop_remainder=static_shapes,
            shuffle_buffer=config.data.shuffle_buffer,
            epoch=data_epoch,
            repeat=True,
        )
    steps = data.batches_per_epoch(len(splits.y_train), global_batch, static_shapes)
    val_ds = eval_data(splits, "val", global_batch, static_shapes) if len(splits.y_val) else None
    return FitBatches(train_ds, steps, val_ds)


def eval_data(
    splits: Splits | StreamedSplits, split: str, global_batch: int, static_shapes: bool
) -> tf.data.Dataset:
    """Batches of (x, y, weight) counting each example of split `val` or `test` once."""
    from tfmodel import data

    if isinstance(splits, data.StreamedSplits):
        return data.build_file_eval_dataset(
            getattr(splits, split), splits.recipe, global_batch, static_shapes=static_shapes
        )
    x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
    return data.build_eval_dataset(x, y, global_batch, static_shapes=static_shapes)
