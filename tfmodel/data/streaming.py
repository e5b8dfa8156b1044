"""Splits of encoded images fed to Keras by tf.data, read and decoded from disk as needed.

    StreamedSplits   each split's files (`images.split_listing`) or TFDS records, recipe, classes
    stored_images    a split decoded in stored order (eval, caches, arrays on demand)
    build_file_dataset   training batches: epoch order from (seed, epoch), decode, augment
                         (pixels float32, or uint8 from a cache: the model's input casts them)
    build_file_eval_dataset   every image once, for validation and test
    decoded_cache    `data.cache: memory | DIR`: every image decoded once, kept in RAM or as .npy

Each epoch's order is a permutation drawn from (seed, epoch) over the split's file list, as for
arrays (`tfmodel.data.pipeline`), so a resumed run replays the same batches (TFDS records,
read in sequence, are shuffled through a buffer seeded likewise: `tfmodel.data.tfds_stream`;
with a cache, they too get a full permutation); augmentation draws from (seed, step) likewise.
Decoding runs on AUTOTUNE parallel calls, order kept.
Streamed splits hold no decoded images: stages after training read them through
`tfmodel.data.reading`, a batch at a time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from tfmodel.backend import tf
from tfmodel.data.augment import augment_batch, parse_augment
from tfmodel.data.decode import ImageRecipe, decode_image
from tfmodel.data.images import FolderListing, ImageFile
from tfmodel.data.pipeline import batches_per_epoch
from tfmodel.data.tfds_stream import TfdsSplit

PARALLEL = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}  # order kept


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

    def cache_key(self) -> list:
        """What the decoded images depend on: the files, their sizes, times and orientations."""
        stats = [(p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in self.paths]
        return [stats, self.orientations.tolist()]


@dataclasses.dataclass
class StreamedSplits:
    """Train/validation/test as files (or TFDS records); labels as `tfmodel.data.Splits` has
    them (y_*), images read through `tfmodel.data.reading`. `listing` is the folder's (None
    for TFDS)."""

    train: FileSplit | TfdsSplit
    val: FileSplit | TfdsSplit
    test: FileSplit | TfdsSplit
    class_names: list[str]
    recipe: ImageRecipe
    listing: FolderListing | None
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


def _file_decoder(split: FileSplit, recipe: ImageRecipe):
    """(path, EXIF orientation) → the listed file (header already checked by
    `images.check_image_file`) decoded; without orientation ops when every file is upright."""
    upright = bool((split.orientations == 1).all())

    def decode(path: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
        data = tf.io.read_file(path)
        return decode_image(data, None if upright else orientation, recipe, check_size=False)

    return decode


def stored_images(split: FileSplit | TfdsSplit, recipe: ImageRecipe) -> tf.data.Dataset:
    """Every image of the split decoded by the recipe (float32), in stored order."""
    if isinstance(split, TfdsSplit):
        return decode_records(split.examples(), recipe)
    decode = _file_decoder(split, recipe)
    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), split.orientations))
    return dataset.map(decode, **PARALLEL)


def decode_records(records: tf.data.Dataset, recipe: ImageRecipe) -> tf.data.Dataset:
    """TFDS (encoded image, label) records → their images decoded by the recipe, order kept."""
    return records.map(lambda data, _: _decode_record(data, recipe), **PARALLEL)


def _decode_record(data: tf.Tensor, recipe: ImageRecipe) -> tf.Tensor:
    """A TFDS record's encoded image (TFDS checked it when preparing), decoded upright."""
    return decode_image(data, None, recipe, check_size=False)


def decode_all(split: FileSplit | TfdsSplit, recipe: ImageRecipe) -> np.ndarray:
    """Every image of the split decoded by the recipe, as uint8 (N, H, W, C)."""
    out = np.zeros((len(split), *recipe.shape), np.uint8)
    dataset = stored_images(split, recipe).map(lambda image: tf.cast(image, tf.uint8)).batch(256)
    start = 0
    for batch in dataset.as_numpy_iterator():
        out[start : start + len(batch)] = batch
        start += len(batch)
    return out


def decoded_cache(
    split: FileSplit | TfdsSplit, recipe: ImageRecipe, cache: str
) -> np.ndarray | None:
    """The split decoded once: in memory, or a .npy in folder `cache` (memory-mapped, reused
    while the split's `cache_key` and the recipe are unchanged); None for `none`."""
    if cache == "none":
        return None
    if cache == "memory":
        return decode_all(split, recipe)
    folder = Path(cache).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    key = json.dumps([split.cache_key(), dataclasses.astuple(recipe)])
    path = folder / f"images-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if not path.exists():
        staging = path.with_suffix(".partial.npy")
        np.save(staging, decode_all(split, recipe))
        staging.rename(path)
    return np.load(path, mmap_mode="r")


def _gather_cached(cached: np.ndarray, recipe: ImageRecipe):
    """Indices → uint8 images from the decoded cache: an in-graph gather from a tensor for
    `memory`; one numpy call per batch on the memory-mapped .npy for a folder cache, which is
    read from the page cache rather than held by this process. They stay uint8 (a quarter of
    float32's bytes to copy and prefetch): the model's float32 `keras.Input` casts them, and
    whole values 0..255 are exact in float32, so the model sees what a decoded file gives."""
    if not isinstance(cached, np.memmap):
        images = tf.constant(cached)
        return lambda indices: tf.gather(images, indices)

    def gather(indices: tf.Tensor) -> tf.Tensor:
        batch = tf.numpy_function(lambda j: np.asarray(cached[j]), [indices], tf.uint8)
        return tf.ensure_shape(batch, [None, *recipe.shape])

    return gather


def _file_reader(split: FileSplit, recipe: ImageRecipe):
    """(epoch, order) → the files in that order as decoded (image, label), in parallel."""
    columns = [tf.constant(list(split.paths) or [""], tf.string)]
    columns += [tf.constant(split.orientations), tf.constant(split.labels)]
    decode = _file_decoder(split, recipe)

    def read(number: tf.Tensor, order: tf.Tensor) -> tf.data.Dataset:
        files = tf.data.Dataset.from_tensor_slices(tuple(tf.gather(c, order) for c in columns))
        return files.map(lambda path, orientation, y: (decode(path, orientation), y), **PARALLEL)

    return read


def _record_reader(split: TfdsSplit, recipe: ImageRecipe, seed: int):
    """(epoch, order) → as many records as `order` holds, shuffled by (seed, epoch), decoded."""

    def read(number: tf.Tensor, order: tf.Tensor) -> tf.data.Dataset:
        records = split.shuffled(number, seed).take(tf.size(order, tf.int64))
        return records.map(lambda data, y: (_decode_record(data, recipe), y), **PARALLEL)

    return read


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
    Each epoch is one vectorised step: its permutation orders the file list (paths, orientations,
    labels as tensors), whose slices are decoded on AUTOTUNE parallel calls in order and batched
    within the epoch, so no batch spans two epochs (TFDS records: seeded permutations of windows
    instead, `TfdsSplit.shuffled`); with a cache the permuted indices are batched and each batch
    gathered from the decoded images at once, as uint8 (float32 once augmented). Augmentation
    is seeded by (seed, global step).
    """
    cached = decoded_cache(split, recipe, cache)
    labels = tf.constant(split.labels)
    steps = batches_per_epoch(len(split), batch_size, drop_remainder)
    transforms = parse_augment(augment)
    gather = None if cached is None else _gather_cached(cached, recipe)
    if isinstance(split, TfdsSplit):
        read = _record_reader(split, recipe, seed)
    else:
        read = _file_reader(split, recipe)

    def one_epoch(number: tf.Tensor) -> tf.data.Dataset:
        pair = tf.stack([tf.constant(seed, tf.int64), number])
        order = tf.random.experimental.stateless_shuffle(tf.range(len(split), dtype=tf.int64), pair)
        order = order[: steps * batch_size]
        if gather is not None:
            batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
            batches = batches.map(lambda i: (gather(i), tf.gather(labels, i)), **PARALLEL)
        else:
            batches = read(number, order).batch(batch_size)
        if not transforms:
            return batches
        # Seeded by the global step, so a resumed epoch draws the same changes.
        batches = batches.enumerate(number * steps)
        return batches.map(
            lambda step, b: (augment_batch(b[0], transforms, (seed, step)), b[1]), **PARALLEL
        )

    def all_epochs(_: tf.Tensor) -> tf.data.Dataset:
        start = epoch.read_value()
        numbers = tf.data.Dataset.range(start, tf.int64.max if repeat else start + 1)
        return numbers.flat_map(one_epoch)

    dataset = tf.data.Dataset.from_tensors(0).flat_map(all_epochs)
    return dataset.prefetch(tf.data.AUTOTUNE)


def build_file_eval_dataset(
    split: FileSplit | TfdsSplit, recipe: ImageRecipe, batch_size: int, *, static_shapes: bool
) -> tf.data.Dataset:
    """Batches of (pixels, label, weight) counting every image once (see `build_eval_dataset`):
    with static shapes the last batch is padded with zero-weight blank images."""
    count = len(split)
    padded = -(-count // batch_size) * batch_size if static_shapes else count
    weight = padded / count if count else 1.0
    targets = (split.labels, np.full(count, weight, np.float32))
    dataset = tf.data.Dataset.zip(
        stored_images(split, recipe), *(tf.data.Dataset.from_tensor_slices(t) for t in targets)
    )
    blank = (tf.zeros(recipe.shape), tf.constant(0, tf.int64), tf.constant(0.0))
    dataset = dataset.concatenate(tf.data.Dataset.from_tensors(blank).repeat(padded - count))
    dataset = dataset.batch(batch_size, drop_remainder=static_shapes)
    return dataset.prefetch(tf.data.AUTOTUNE)
