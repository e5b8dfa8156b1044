"""Train / validation / test splits of a data source, as float32 raw pixels and int64 labels.

`load_splits` reads the source named by `cfg.source` (`scheme:argument`), carves a test split when
the source has none (with a fixed seed, so every run tests on the same examples), then carves the
validation split from train with the run's seed. Test examples are never touched by either.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
from sklearn.model_selection import train_test_split

from tfmodel.config import DataConfig
from tfmodel.data import digits, idx, images, keras_source, npz, tfds_source, tfds_stream
from tfmodel.data.decode import ImageRecipe
from tfmodel.data.source import SourceData
from tfmodel.data.streaming import FileSplit, StreamedSplits
from tfmodel.errors import UserError

# The test split of a source without one must not move with the training seed.
TEST_SPLIT_SEED = 0

# Each loader takes the text after `scheme:` and `cfg.data_dir`.
LOADERS: dict[str, Callable[[str, str | None], SourceData]] = {
    "sklearn": digits.load_digits_source,
    "tfds": tfds_source.load_tfds_source,
    "keras": keras_source.load_keras_source,
    "npz": npz.load_npz_source,
    "idx": idx.load_idx_source,
}
STREAMED = "images"  # the scheme read file by file (tfmodel.data.streaming), not into arrays

EXAMPLES = (
    "sklearn:digits, tfds:mnist, keras:fashion_mnist, npz:data/mnist.npz, idx:DIR, images:DIR"
)


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train/val/test arrays: x float32 raw pixels (N, H, W, C) in [0, pixel_max], y int64 ids."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    pixel_max: float

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape of one example, (H, W, C)."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_splits(cfg: DataConfig, seed: int) -> Splits | StreamedSplits:
    """Read `cfg.source` and split it; the validation split is drawn with `seed`."""
    scheme, _, argument = cfg.source.partition(":")
    if scheme not in LOADERS and scheme != STREAMED:
        raise UserError(
            f"data.source {cfg.source!r} has an unknown scheme {scheme!r}: use one of "
            f"{', '.join(s + ':' for s in [*LOADERS, STREAMED])} (e.g. {EXAMPLES})"
        )
    if not argument:
        raise UserError(
            f"data.source {cfg.source!r} names no data after '{scheme}:' (e.g. {EXAMPLES})"
        )
    _check_fraction("data.validation_split", cfg.validation_split)
    if scheme == STREAMED:
        _check_fraction("data.test_split", cfg.test_split)
        return load_folder_splits(cfg, argument, seed)
    if scheme == "tfds" and _streamed_tfds(cfg):
        return load_tfds_splits(cfg, argument, seed)
    source = LOADERS[scheme](argument, cfg.data_dir)

    x_train, y_train = _checked_arrays(cfg.source, "train", source.x_train, source.y_train)
    if source.x_test is None or source.y_test is None:
        _check_fraction("data.test_split", cfg.test_split)
        (x_train, y_train), (x_test, y_test) = split_off(
            x_train, y_train, cfg.test_split, TEST_SPLIT_SEED, f"{cfg.source} (test split)"
        )
    else:
        x_test, y_test = _checked_arrays(cfg.source, "test", source.x_test, source.y_test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise UserError(
                f"data.source {cfg.source!r}: test images have shape {x_test.shape[1:]} but train "
                f"images {x_train.shape[1:]}; both splits must hold images of one size"
            )
    (x_train, y_train), (x_val, y_val) = split_off(
        x_train, y_train, cfg.validation_split, seed, f"{cfg.source} (validation split)"
    )
    num_classes = max(int(y.max(initial=-1)) for y in (y_train, y_val, y_test)) + 1
    class_names = source.class_names or [str(i) for i in range(num_classes)]
    if num_classes > len(class_names):
        raise UserError(
            f"data.source {cfg.source!r} has label {num_classes - 1} but only "
            f"{len(class_names)} class names; labels must be 0..{len(class_names) - 1}"
        )
    return Splits(
        x_train=x_train.astype(np.float32),
        y_train=y_train,
        x_val=x_val.astype(np.float32),
        y_val=y_val,
        x_test=x_test.astype(np.float32),
        y_test=y_test,
        class_names=list(class_names),
        pixel_max=_pixel_max(source.x_train),
    )


def image_recipe(cfg: DataConfig) -> ImageRecipe | None:
    """How a streamed source's files become pixels (training and serving_bytes); None for
    sources loaded as arrays."""
    scheme = cfg.source.partition(":")[0]
    if scheme != STREAMED and not (scheme == "tfds" and _streamed_tfds(cfg)):
        return None
    if len(cfg.image_size) != 2 or min(cfg.image_size) < 1:
        raise UserError(
            f"config key 'data.image_size' must be [height, width] in pixels, got {cfg.image_size}"
        )
    return ImageRecipe(tuple(cfg.image_size), cfg.channels, cfg.resize)


def load_folder_splits(cfg: DataConfig, directory: str, seed: int) -> StreamedSplits:
    """An image folder's files, split per file by `images.assign_split`, to stream from disk."""
    recipe = image_recipe(cfg)
    listing = images.list_image_folder(directory, cfg.on_bad_file)
    parts = images.split_listing(listing, cfg.test_split, cfg.validation_split, seed)
    return StreamedSplits(
        train=FileSplit.of(listing.root, parts["train"]),
        val=FileSplit.of(listing.root, parts["validation"]),
        test=FileSplit.of(listing.root, parts["test"]),
        class_names=listing.class_names,
        recipe=recipe,
        listing=listing,
        cache=cfg.cache,
    )


def _streamed_tfds(cfg: DataConfig) -> bool:
    """A TFDS dataset is streamed when its images have no fixed size (else loaded as arrays)."""
    spec = cfg.source.partition(":")[2]
    return tfds_source.has_mixed_sizes(tfds_source.open_tfds_builder(spec, cfg.data_dir))


def load_tfds_splits(cfg: DataConfig, spec: str, seed: int) -> StreamedSplits:
    """A TFDS dataset of mixed-size images, split per example (`tfds_stream`), to stream."""
    builder = tfds_source.open_tfds_builder(spec, cfg.data_dir)
    has_test = tfds_source.check_prepared(builder, f"tfds:{spec}", cfg.data_dir)
    if not has_test:
        _check_fraction("data.test_split", cfg.test_split)
    parts = tfds_stream.load_tfds_streamed(
        builder, has_test, cfg.test_split, cfg.validation_split, seed, cfg.shuffle_buffer
    )
    if not len(parts["train"]):
        raise UserError(
            f"data.source 'tfds:{spec}': no example fell in the training split; "
            "lower data.test_split / data.validation_split"
        )
    labels = np.concatenate([part.labels for part in parts.values()])
    names = tfds_source.class_names(builder) or [str(i) for i in range(int(labels.max()) + 1)]
    return StreamedSplits(
        train=parts["train"],
        val=parts["validation"],
        test=parts["test"],
        class_names=names,
        recipe=image_recipe(cfg),
        listing=None,
        cache=cfg.cache,
    )


def split_off(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split into (kept, held out) with ceil(fraction·N) held out, stratified by label when
    every class has at least two examples and both parts can hold one of each class."""
    n_held = math.ceil(round(fraction * len(y), 6))  # round: 0.1 * 1440 is 144.00000000000003
    if n_held == 0:
        return (x, y), (x[:0], y[:0])
    if n_held >= len(y):
        raise UserError(
            f"{what}: holding out {fraction} of {len(y)} examples leaves none to train on; "
            "lower the split fraction or use more data"
        )
    _, counts = np.unique(y, return_counts=True)
    can_stratify = counts.min() >= 2 and min(n_held, len(y) - n_held) >= len(counts)
    x_kept, x_held, y_kept, y_held = train_test_split(
        x, y, test_size=n_held, random_state=seed, stratify=y if can_stratify else None
    )
    return (x_kept, y_kept), (x_held, y_held)


def _checked_arrays(
    source: str, split: str, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Images as (N, H, W, C) (a channel axis added to 2-D images) and labels as int64 (N,)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise UserError(
            f"data.source {source!r}: {split} images must have shape (N, H, W) or (N, H, W, C), "
            f"got {x.shape}; reshape flat vectors to images before saving them"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (len(x),):
        raise UserError(
            f"data.source {source!r}: {split} labels have shape {y.shape} for {len(x)} images; "
            f"give one integer class id per image, shape ({len(x)},)"
        )
    if len(y) and (y.min() < 0 or np.any(y != np.round(y))):
        raise UserError(
            f"data.source {source!r}: {split} labels must be class ids 0, 1, 2, …; "
            f"got values from {y.min()} to {y.max()} (dtype {y.dtype})"
        )
    return x, y.astype(np.int64)


def _check_fraction(key: str, value: float) -> None:
    if not 0 <= value < 1:
        raise UserError(f"config key {key!r} must be a fraction in [0, 1), got {value}")


def _pixel_max(x: np.ndarray) -> float:
    """255 for 8-bit images, else the largest stored value (16 for sklearn's digits)."""
    if x.dtype == np.uint8:
        return 255.0
    return float(x.max()) if x.size and x.max() > 0 else 1.0
