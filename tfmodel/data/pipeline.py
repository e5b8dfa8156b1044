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
) -> tf.data.Dataset:
    """Batches of (x, y): cache → shuffle (seeded, reshuffled each epoch) → batch → prefetch.

    With `drop_remainder` the last partial batch is dropped, so the batch dimension is static —
    TPUs and some distribution strategies need that.
    """
    if batch_size < 1:
        raise UserError(f"config key 'data.batch_size' must be at least 1, got {batch_size}")
    if shuffle and shuffle_buffer < 1:
        raise UserError(
            f"config key 'data.shuffle_buffer' must be at least 1, got {shuffle_buffer}"
        )
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)
