"""`tfds:NAME` image datasets of mixed sizes, streamed from the prepared TFDS files.

    TfdsSplit        one split's examples: a TFDS split, the hash part of it kept, its labels
    load_tfds_streamed   train/validation/test of a dataset as TfdsSplits

Images are read still encoded (`tfds.decode.SkipDecoding`) and decoded by the folder recipe
(`tfmodel.data.decode`), so resize, channels, augmentation and the cache work as for
`images:DIR`; TFDS' automatic in-memory cache is off, so no split is held in memory. Splits
stay put: validation (and test, for a dataset without one) is carved per example from a hash
of its position in the TFDS split (and the seed, for validation), as a folder's from its path.
Each epoch's order permutes the records, read in stored order, within windows of
`data.shuffle_buffer` examples by stateless draws from (seed, epoch, window), so a resumed epoch
replays its batches (`Dataset.shuffle` cannot take a per-epoch seed tensor once a global seed is
set, as Keras' `set_random_seed` does).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from tfmodel.backend import tf

READ_BATCH = 4096  # labels are read in batches of this many
HASH_BUCKETS = 2**62


@dataclasses.dataclass(frozen=True)
class TfdsSplit:
    """The examples of TFDS split `split` whose hash part is `part` (train, validation, test or
    all), in stored order; `labels` were read once without decoding an image."""

    builder: Any  # tfds.core.DatasetBuilder
    split: str
    part: str
    test_split: float
    validation_split: float
    seed: int
    shuffle_buffer: int
    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def examples(self) -> tf.data.Dataset:
        """(encoded image, label) of this part, in the order TFDS stored them."""
        image_key, label_key = self.builder.info.supervised_keys
        dataset = self.builder.as_dataset(
            split=self.split,
            shuffle_files=False,
            decoders={image_key: tfds.decode.SkipDecoding()},
            read_config=tfds.ReadConfig(try_autocache=False),
        )
        dataset = dataset.enumerate().filter(lambda i, _: tf.equal(self._part_of(i), self.part))
        return dataset.map(lambda _, ex: (ex[image_key], tf.cast(ex[label_key], tf.int64)))

    def shuffled(self, number: tf.Tensor, seed: int) -> tf.data.Dataset:
        """This epoch's (encoded image, label): each window of `shuffle_buffer` records in a
        permutation drawn from (seed, epoch, window); a window's encoded bytes are all it holds."""
        epoch_seed = tf.constant(seed, tf.int64) * 1_000_003 + tf.cast(number, tf.int64)

        def permuted(window: tf.Tensor, records: tuple) -> tf.data.Dataset:
            images, labels = records
            order = tf.random.experimental.stateless_shuffle(
                tf.range(tf.shape(labels)[0]), tf.stack([epoch_seed, window])
            )
            return tf.data.Dataset.from_tensor_slices(
                (tf.gather(images, order), tf.gather(labels, order))
            )

        return self.examples().batch(self.shuffle_buffer).enumerate().flat_map(permuted)

    def cache_key(self) -> list:
        """What the decoded images depend on, for a cache folder's file name."""
        where = [self.builder.info.full_name, str(self.builder.data_dir), self.split, self.part]
        return [*where, self.test_split, self.validation_split, self.seed, len(self)]

    def _part_of(self, index: tf.Tensor) -> tf.Tensor:
        if self.part == "all":
            return tf.constant("all")
        position = tf.strings.as_string(index)
        salted = tf.strings.join([str(self.seed), ":", position])
        test = _unit_hash(position) < self.test_split
        validation = _unit_hash(salted) < self.validation_split
        return tf.where(test, "test", tf.where(validation, "validation", "train"))


def _unit_hash(text: tf.Tensor) -> tf.Tensor:
    """A stable number in [0, 1) from `text` (TF's fingerprint hash; the same on every run)."""
    bucket = tf.strings.to_hash_bucket_fast(text, HASH_BUCKETS)
    return tf.cast(bucket, tf.float64) / HASH_BUCKETS


def with_labels(split: TfdsSplit) -> TfdsSplit:
    """`split` with its labels read (the images' bytes are read past, not decoded)."""
    labels = [y for y in split.examples().map(lambda _, y: y).batch(READ_BATCH).as_numpy_iterator()]
    return dataclasses.replace(split, labels=np.concatenate([np.zeros(0, np.int64), *labels]))


def load_tfds_streamed(
    builder: Any,
    has_test: bool,
    test_split: float,
    validation_split: float,
    seed: int,
    shuffle_buffer: int,
) -> dict[str, TfdsSplit]:
    """Train, validation and test of a prepared dataset, each streamed from its TFDS files."""
    test_fraction = 0.0 if has_test else test_split

    def part(split: str, name: str) -> TfdsSplit:
        carved = TfdsSplit(
            builder, split, name, test_fraction, validation_split, seed, shuffle_buffer
        )
        return with_labels(carved)

    return {
        "train": part("train", "train"),
        "validation": part("train", "validation"),
        "test": part("test", "all") if has_test else part("train", "test"),
    }
