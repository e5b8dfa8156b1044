"""What a stage after training reads of a split, held in memory a batch at a time.

Array splits (`Splits`: digits, MNIST, npz) are sliced; streamed splits (`StreamedSplits`: an
image folder, a TFDS set of mixed sizes) are decoded as asked, so no stage holds a decoded split
of a real photo folder (20,000 photos at 224×224 are 12 GB of float32).

    count           how many examples a split has (its labels are always in memory)
    image_batches   every image of a split once, in stored order, a batch at a time
    first_images    the first N images of a split (warm-up records, samples, explanations)
    predict_split   a function's outputs over a split, batch by batch (evaluation, confusion)
    sample_images   a seeded sample of N images of a split (int8 calibration)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from tfmodel.backend import tf
from tfmodel.data.decode import ImageRecipe
from tfmodel.data.splits import Splits
from tfmodel.data.streaming import FileSplit, StreamedSplits, decode_records, stored_images
from tfmodel.data.tfds_stream import TfdsSplit

# Images decoded and predicted at once, as Keras' predict batches: a network's activations grow
# with the batch (MobileNetV2 at 96×96: hundreds of MB for 256), and the allocator keeps them.
EVAL_BATCH = 32


def labels(splits: Splits | StreamedSplits, split: str) -> np.ndarray:
    """The int64 class ids of split `train`, `val` or `test`."""
    return getattr(splits, f"y_{split}")


def count(splits: Splits | StreamedSplits, split: str) -> int:
    """How many examples split `train`, `val` or `test` has."""
    return len(labels(splits, split))


def image_batches(
    splits: Splits | StreamedSplits,
    split: str,
    batch_size: int = EVAL_BATCH,
    limit: int | None = None,
) -> Iterator[np.ndarray]:
    """The split's images as float32 raw pixels, in stored order, `batch_size` at a time (the
    first `limit` only, when given)."""
    if isinstance(splits, StreamedSplits):
        dataset = stored_images(getattr(splits, split), splits.recipe)
        if limit is not None:
            dataset = dataset.take(limit)
        yield from dataset.batch(batch_size).prefetch(1).as_numpy_iterator()
        return
    images = getattr(splits, f"x_{split}")[:limit]
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


def first_images(splits: Splits | StreamedSplits, split: str, number: int) -> np.ndarray:
    """The split's first `number` images (fewer if it is smaller), float32."""
    return _stacked(splits, list(image_batches(splits, split, limit=number)))


def predict_split(
    predict: Callable[[np.ndarray], np.ndarray],
    splits: Splits | StreamedSplits,
    split: str,
    batch_size: int = EVAL_BATCH,
) -> np.ndarray:
    """`predict`'s outputs for every image of the split, in stored order: one row per image."""
    outputs = [np.asarray(predict(batch)) for batch in image_batches(splits, split, batch_size)]
    if not outputs:
        return np.zeros((0, splits.num_classes), np.float32)
    return np.concatenate(outputs)


def sample_indices(size: int, number: int, seed: int) -> np.ndarray:
    """`number` distinct positions of `size` drawn from `seed` (all of them if fewer), sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(size, size=min(number, size), replace=False))


def sample_images(
    splits: Splits | StreamedSplits, split: str, number: int, seed: int
) -> np.ndarray:
    """`number` images of the split drawn from `seed` (in stored order), float32: the same
    positions for arrays, files and TFDS records, and only those are decoded."""
    take = sample_indices(count(splits, split), number, seed)
    if not isinstance(splits, StreamedSplits):
        return getattr(splits, f"x_{split}")[take].astype(np.float32)
    part = getattr(splits, split)
    if isinstance(part, FileSplit):
        chosen = FileSplit(part.paths[take], part.labels[take], part.orientations[take])
        dataset = stored_images(chosen, splits.recipe)
    else:
        dataset = _sampled_records(part, take, splits.recipe)
    return _stacked(splits, list(dataset.batch(EVAL_BATCH).as_numpy_iterator()))


def _sampled_records(part: TfdsSplit, take: np.ndarray, recipe: ImageRecipe) -> tf.data.Dataset:
    """The records at positions `take` of a TFDS split, decoded; the rest are skipped encoded."""
    chosen = np.zeros(len(part), bool)
    chosen[take] = True
    chosen = tf.constant(chosen)
    records = part.examples().enumerate().filter(lambda i, _: chosen[i])
    return decode_records(records.map(lambda _, record: record), recipe)


def _stacked(splits: Splits | StreamedSplits, batches: list[np.ndarray]) -> np.ndarray:
    """The batches as one float32 array; an empty (0, H, W, C) one when there are none."""
    if not batches:
        return np.zeros((0, *splits.input_shape), np.float32)
    return np.concatenate(batches).astype(np.float32, copy=False)
