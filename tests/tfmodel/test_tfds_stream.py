"""`tfds:NAME` of mixed-size images: streamed from a tiny TFDS dataset prepared here, offline."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfmodel.backend import tf
from tfmodel.config import DataConfig
from tfmodel.data import (
    StreamedSplits,
    build_file_dataset,
    build_file_eval_dataset,
    load_splits,
    reading,
)
from tfmodel.data.tfds_stream import TfdsSplit

COLOURS = [(30, 30, 200), (220, 200, 40)]  # class 0 blue, class 1 yellow


class TfmodelTestPhotos(tfds.core.GeneratorBasedBuilder):
    """24 train and 6 test JPEGs of mixed sizes, each one colour, the colour its class."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(names=["blue", "yellow"]),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self, features=features, supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(24, 0), "test": self._generate_examples(6, 1)}

    def _generate_examples(self, count, seed):
        rng = np.random.default_rng(seed)
        for index in range(count):
            height, width = (int(v) for v in rng.integers(10, 50, 2))
            image = np.full((height, width, 3), COLOURS[index % 2], np.uint8)
            yield index, {"image": image, "label": index % 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    where = tmp_path_factory.mktemp("tfds")
    TfmodelTestPhotos(data_dir=str(where)).download_and_prepare()
    return str(where)


def config(data_dir, **options):
    options = {"image_size": [8, 8], "validation_split": 0.25, **options}
    return DataConfig(source="tfds:tfmodel_test_photos", data_dir=data_dir, **options)


def batches(splits, first_epoch, count, **options):
    epoch = tf.Variable(first_epoch, dtype=tf.int64)
    dataset = build_file_dataset(
        splits.train, splits.recipe, 4, seed=3, epoch=epoch, repeat=True, **options
    )
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


def test_mixed_size_images_stream_split_per_example_and_decode_as_tfds_does(data_dir):
    splits = load_splits(config(data_dir), seed=0)
    assert isinstance(splits, StreamedSplits) and isinstance(splits.train, TfdsSplit)
    assert splits.class_names == ["blue", "yellow"] and splits.input_shape == (8, 8, 3)
    assert len(splits.y_train) + len(splits.y_val) == 24 and len(splits.y_test) == 6
    assert 0 < len(splits.y_val) < 12
    # The same seed carves the same validation split; TFDS' own decoding gives the same pixels.
    assert np.array_equal(load_splits(config(data_dir), seed=0).y_val, splits.y_val)
    reference = tfds.load(
        "tfmodel_test_photos", split="test", data_dir=data_dir, as_supervised=True
    )
    expected = [(tf.round(tf.image.resize(x, (8, 8))).numpy(), y) for x, y in reference]
    decoded = reading.first_images(splits, "test", len(splits.y_test))
    np.testing.assert_array_equal(decoded, np.stack([x for x, _ in expected]))
    np.testing.assert_array_equal(splits.y_test, [int(y) for _, y in expected])


def test_a_resumed_epoch_replays_the_same_batches(data_dir):
    """With a global seed set, as training sets one (a per-epoch seed tensor broke
    `Dataset.shuffle` then, in any process where an earlier test had set one)."""
    tf.random.set_seed(0)
    splits = load_splits(config(data_dir, augment=[]), seed=0)
    per_epoch = -(-len(splits.train) // 4)
    from_start = batches(splits, 0, 3 * per_epoch, augment=["flip"])
    resumed = batches(splits, 2, per_epoch, augment=["flip"])
    for (x, y), (x_again, y_again) in zip(from_start[2 * per_epoch :], resumed, strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    first = np.concatenate([y for _, y in from_start[:per_epoch]])
    second = np.concatenate([y for _, y in from_start[per_epoch : 2 * per_epoch]])
    assert sorted(first) == sorted(splits.y_train) and not np.array_equal(first, second)
    # Each image is its class's colour, so pixels and labels travelled together.
    for x, y in from_start:
        np.testing.assert_allclose(x.mean(axis=(1, 2)), np.array(COLOURS)[y], atol=8)


def test_the_memory_cache_and_the_eval_batches_hold_every_example(data_dir):
    splits = load_splits(config(data_dir), seed=0)
    cached = batches(splits, 0, -(-len(splits.train) // 4), cache="memory")
    assert sorted(np.concatenate([y for _, y in cached])) == sorted(splits.y_train)
    evaluated = list(build_file_eval_dataset(splits.test, splits.recipe, 4, static_shapes=True))
    weights = np.concatenate([w.numpy() for _, _, w in evaluated])
    labels = np.concatenate([y.numpy() for _, y, _ in evaluated])
    np.testing.assert_array_equal(labels[weights > 0], splits.y_test)
    assert (weights > 0).sum() == 6 and len(weights) == 8


def test_a_cache_folder_is_written_once_and_reused(data_dir, tmp_path):
    splits = load_splits(config(data_dir), seed=0)
    where = str(tmp_path / "cache")
    first = batches(splits, 1, 2, cache=where)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    for (x, y), (x_again, y_again) in zip(first, batches(splits, 1, 2, cache=where), strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_a_seeded_sample_of_tfds_records_is_the_split_at_those_positions(data_dir):
    splits = load_splits(config(data_dir), seed=0)
    whole = reading.first_images(splits, "train", len(splits.train))
    take = reading.sample_indices(len(whole), 5, seed=2)
    np.testing.assert_array_equal(reading.sample_images(splits, "train", 5, seed=2), whole[take])
