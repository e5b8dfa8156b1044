"""Splits of image files fed to Keras by tf.data, read and decoded from disk as they are needed.

    StreamedSplits   the files of each split (from `images.split_listing`), the recipe, classes
    build_file_dataset   training batches: epoch order from (seed, epoch), decode, augment
    build_file_eval_dataset   every file once, for validation and test
    decoded_cache    `data.cache: memory | DIR`: every image decoded once, kept in RAM or as .npy

Each epoch's order is a permutation drawn from (seed, epoch) over the split's file list, as for
arrays (`tfmodel.data.pipeline`), so a resumed run replays the same batches; augmentation draws
from (seed, epoch, batch) likewise. Decoding runs on AUTOTUNE parallel calls, order kept.
A consumer that wants arrays (`x_test` for the model card, `x_train` for edge calibration) gets
them decoded on first use; training and testing never ask for them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from tfmodel.backend import tf
from tfmodel.data.augment import augment_batch, parse_augment
from tfmodel.data.decode import ImageRecipe, decode_image
from tfmodel.data.images import FolderListing, ImageFile


@dataclasses.dataclass(frozen=True)
class FileSplit:
    """One split's files: absolute paths, class ids and EXIF orientations, in listing order."""

    paths: np.ndarray
    labels: np.ndarray
    orientations: np.ndarray

    @classmethod
    def of(cls, root: Path, files: list[ImageFile]) -> FileSplit:
        return cls(
            np.array([str(root / f.path) for f in files], dtype=object),
            np.array([f.label for f in files], dtype=np.int64),
            np.array([f.orientation for f in files], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class StreamedSplits:
    """Train/validation/test as files; reads like `tfmodel.data.Splits` (y_*, x_* on demand)."""

    train: FileSplit
    val: FileSplit
    test: FileSplit
    class_names: list[str]
    recipe: ImageRecipe
    listing: FolderListing
    cache: str = "none"
    pixel_max: float = 255.0

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.recipe.shape

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    y_train = property(lambda self: self.train.labels)
    y_val = property(lambda self: self.val.labels)
    y_test = property(lambda self: self.test.labels)

    @functools.cached_property
    def x_train(self) -> np.ndarray:
        return decode_all(self.train, self.recipe).astype(np.float32)

    @functools.cached_property
    def x_val(self) -> np.ndarray:
        return decode_all(self.val, self.recipe).astype(np.float32)

    @functools.cached_property
    def x_test(self) -> np.ndarray:
        return decode_all(self.test, self.recipe).astype(np.float32)


def _decode_file(path: tf.Tensor, orientation: tf.Tensor, recipe: ImageRecipe) -> tf.Tensor:
    """A listed file (its header already checked by `images.check_image_file`), decoded."""
    return decode_image(tf.io.read_file(path), orientation, recipe, check_size=False)


def decode_all(split: FileSplit, recipe: ImageRecipe) -> np.ndarray:
    """Every image of the split decoded by the recipe, as uint8 (N, H, W, C)."""
    out = np.zeros((len(split), *recipe.shape), np.uint8)
    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), split.orientations))
    dataset = dataset.map(
        lambda p, o: tf.cast(_decode_file(p, o, recipe), tf.uint8),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).batch(256)
    start = 0
    for batch in dataset.as_numpy_iterator():
        out[start : start + len(batch)] = batch
        start += len(batch)
    return out


def decoded_cache(split: FileSplit, recipe: ImageRecipe, cache: str) -> np.ndarray | None:
    """The split decoded once: in memory, or a .npy in folder `cache` (memory-mapped, reused
    while the files, their sizes and times and the recipe are unchanged); None for `none`."""
    if cache == "none":
        return None
    if cache == "memory":
        return decode_all(split, recipe)
    folder = Path(cache).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    stats = [(p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in split.paths]
    key = json.dumps([stats, split.orientations.tolist(), dataclasses.astuple(recipe)])
    path = folder / f"images-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if not path.exists():
        staging = path.with_suffix(".partial.npy")
        np.save(staging, decode_all(split, recipe))
        staging.rename(path)
    return np.load(path, mmap_mode="r")


def _gather_cached(cached: np.ndarray, recipe: ImageRecipe):
    """A batch of indices → float32 images from the decoded cache, in one numpy call."""

    def gather(indices: tf.Tensor) -> tf.Tensor:
        images = tf.numpy_function(lambda j: np.asarray(cached[j]), [indices], tf.uint8)
        return tf.cast(tf.ensure_shape(images, [None, *recipe.shape]), tf.float32)

    return gather


def build_file_dataset(
    split: FileSplit,
    recipe: ImageRecipe,
    batch_size: int,
    *,
    seed: int,
    epoch: tf.Variable,
    repeat: bool,
    drop_remainder: bool = False,
    augment: list[str] = (),
    cache: str = "none",
) -> tf.data.Dataset:
    """Batches of (pixels, label), each epoch a permutation drawn from (seed, epoch number).

    The first epoch is read from `epoch` when the iterator starts (as `pipeline._epoch_batches`).
    The epochs yield (file index, step) pairs, cheap, each epoch padded with index -1 to whole
    batches so no batch spans two epochs; files are decoded one per parallel call outside the
    per-epoch flat_map (one map for tf.data to tune, as fast as Keras' per-file map), and the
    padding is dropped from each epoch's last batch.
    """
    cached = decoded_cache(split, recipe, cache)
    paths = tf.constant(list(split.paths) or [""], tf.string)
    orientations = tf.constant(split.orientations)
    labels = tf.constant(split.labels)
    steps = len(split) // batch_size if drop_remainder else -(-len(split) // batch_size)
    transforms = parse_augment(augment)

    def one_epoch(number: tf.Tensor) -> tf.data.Dataset:
        pair = tf.stack([tf.constant(seed, tf.int64), number])
        order = tf.random.experimental.stateless_shuffle(tf.range(len(split), dtype=tf.int64), pair)
        padding = tf.fill([steps * batch_size - min(len(split), steps * batch_size)], -1)
        order = tf.concat([order[: steps * batch_size], tf.cast(padding, tf.int64)], 0)
        step = number * steps + tf.range(steps * batch_size, dtype=tf.int64) // batch_size
        return tf.data.Dataset.from_tensor_slices((order, step))

    def all_epochs(_: tf.Tensor) -> tf.data.Dataset:
        start = epoch.read_value()
        numbers = tf.data.Dataset.range(start, tf.int64.max if repeat else start + 1)
        return numbers.flat_map(one_epoch)

    def decode(index: tf.Tensor, step: tf.Tensor):
        real = tf.maximum(index, 0)  # padding decodes file 0, dropped below
        image = _decode_file(tf.gather(paths, real), tf.gather(orientations, real), recipe)
        return image, index, step

    def finish(images: tf.Tensor, indices: tf.Tensor, steps_: tf.Tensor):
        keep = indices >= 0
        images, indices = tf.boolean_mask(images, keep), tf.boolean_mask(indices, keep)
        if transforms:
            images = augment_batch(images, transforms, (seed, steps_[0]))
        return images, tf.gather(labels, indices)

    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    dataset = tf.data.Dataset.from_tensors(0).flat_map(all_epochs)
    if cached is None:
        dataset = dataset.map(decode, **parallel).batch(batch_size)
    else:
        gather = _gather_cached(cached, recipe)
        dataset = dataset.batch(batch_size).map(
            lambda i, step: (gather(tf.maximum(i, 0)), i, step), **parallel
        )
    return dataset.map(finish, **parallel).prefetch(tf.data.AUTOTUNE)


def build_file_eval_dataset(
    split: FileSplit, recipe: ImageRecipe, batch_size: int, *, static_shapes: bool
) -> tf.data.Dataset:
    """Batches of (pixels, label, weight) counting every file once (see `build_eval_dataset`)."""
    count = len(split)
    padded = -(-count // batch_size) * batch_size if static_shapes else count
    paths = tf.constant(list(split.paths) or [""], tf.string)
    orientations = tf.constant(split.orientations)
    labels = tf.constant(split.labels)
    weight = padded / count if count else 1.0

    def load(i: tf.Tensor) -> tf.Tensor:
        return _decode_file(tf.gather(paths, i), tf.gather(orientations, i), recipe)

    def example(i: tf.Tensor):
        real = i < count
        safe = tf.minimum(i, count - 1)
        image = tf.cond(real, lambda: load(safe), lambda: tf.zeros(recipe.shape))
        return (
            image,
            tf.where(real, tf.gather(labels, safe), tf.constant(0, tf.int64)),
            tf.where(real, weight, 0.0),
        )

    dataset = tf.data.Dataset.range(padded).map(
        example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    dataset = dataset.batch(batch_size, drop_remainder=static_shapes)
    return dataset.prefetch(tf.data.AUTOTUNE)
