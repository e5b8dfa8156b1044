"""The tf.data input pipeline that feeds arrays to Keras."""

from __future__ import annotations

import numpy as np

from tfmodel.backend import tf
from tfmodel.errors import UserError


def build_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None,
    drop_remainder: bool = False,
    shuffle_buffer: int = 10_000,
    epoch: tf.Variable | None = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of (x, y): cache → shuffle (seeded, reshuffled each epoch) → batch → prefetch.

    With `drop_remainder` the last partial batch is dropped, so the batch dimension is static —
    TPUs and some distribution strategies need that. With `epoch` (an int64 variable holding the
    first epoch to run) each epoch's order depends on (seed, epoch) alone, not on how many epochs
    this process has iterated, so a resumed run replays the same batches; the order is then a
    full permutation (as from a shuffle buffer as large as the split). With `repeat` the batches
    go on epoch after epoch, so `model.fit` keeps one iterator (and its prefetch) for all epochs.
    """
    if batch_size < 1:
        raise UserError(f"config key 'data.batch_size' must be at least 1, got {batch_size}")
    if shuffle and shuffle_buffer < 1:
        raise UserError(
            f"config key 'data.shuffle_buffer' must be at least 1, got {shuffle_buffer}"
        )
    batches = batches_per_epoch(len(x), batch_size, drop_remainder)
    if shuffle and epoch is not None:
        dataset = _epoch_batches(x, y, batch_size, drop_remainder, seed or 0, epoch, repeat)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle:
            dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        dataset = dataset.repeat() if repeat else dataset
    if not repeat:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


def batches_per_epoch(count: int, batch_size: int, drop_remainder: bool) -> int:
    """How many batches one epoch over `count` examples gives."""
    return count // batch_size if drop_remainder else -(-count // batch_size)


def _epoch_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    drop_remainder: bool,
    seed: int,
    first_epoch: tf.Variable,
    repeat: bool,
) -> tf.data.Dataset:
    """Batches epoch by epoch, each epoch a full permutation drawn from (seed, epoch number).

    The first epoch is read from `first_epoch` when the iterator starts; then one epoch, or with
    `repeat` every following one. The epoch number travels with the data, so prefetching into
    the next epoch never reads a stale variable.
    """

    def one_epoch(xs: tf.Tensor, ys: tf.Tensor, number: tf.Tensor) -> tf.data.Dataset:
        pair = tf.stack([tf.constant(seed, tf.int64), number])
        order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(ys)[0]), seed=pair)
        indices = tf.data.Dataset.from_tensor_slices(order)
        indices = indices.batch(batch_size, drop_remainder=drop_remainder)
        return indices.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)))

    def all_epochs(xs: tf.Tensor, ys: tf.Tensor) -> tf.data.Dataset:
        start = first_epoch.read_value()
        numbers = tf.data.Dataset.range(start, tf.int64.max if repeat else start + 1)
        return numbers.flat_map(lambda number: one_epoch(xs, ys, number))

    return tf.data.Dataset.from_tensors((x, y)).flat_map(all_epochs)


def build_eval_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, static_shapes: bool
) -> tf.data.Dataset:
    """Batches of (x, y, weight) that count every example exactly once, for evaluation.

    Without static shapes the last batch is simply shorter. With them (TPU) it is padded to full
    size with zero-weight rows, so no example is dropped and the batch shape never changes. Keras
    averages a batch's loss over all its rows, padding included; weighting each real row by
    padded/real turns that back into the mean over the real rows. Metrics must be weighted ones
    (`weighted_metrics`), which a constant weight on every real row leaves unchanged.
    """
    count = len(x)
    weights = np.ones(count, np.float32)
    padded = -(-count // batch_size) * batch_size if static_shapes else count
    if padded > count:
        extra = padded - count
        x = np.concatenate([x, np.zeros((extra, *x.shape[1:]), x.dtype)])
        y = np.concatenate([y, np.zeros(extra, y.dtype)])
        weights = np.concatenate([np.full(count, padded / count, np.float32), np.zeros(extra)])
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights.astype(np.float32))).cache()
    return dataset.batch(batch_size, drop_remainder=static_shapes).prefetch(tf.data.AUTOTUNE)
