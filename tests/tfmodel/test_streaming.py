"""Streaming an image folder: exact epoch order from (seed, epoch), caches, augmentation, eval."""

import numpy as np
import pytest
from photos import write_photo_folder
from PIL import Image, ImageOps

from tfmodel.backend import keras, tf
from tfmodel.config import DataConfig, ModelConfig, OptimizerConfig, RegularizerConfig
from tfmodel.data import (
    Splits,
    batches_per_epoch,
    build_file_dataset,
    build_file_eval_dataset,
    load_splits,
    reading,
)
from tfmodel.data.streaming import decode_all
from tfmodel.models import build_model, compile_for_training


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    write_photo_folder(root, per_class=5)
    return load_splits(DataConfig(source=f"images:{root}", image_size=[8, 8]), seed=0)


def batches(splits, first_epoch: int, count: int, **options):
    epoch = tf.Variable(first_epoch, dtype=tf.int64)
    dataset = build_file_dataset(
        splits.train, splits.recipe, 5, seed=7, epoch=epoch, repeat=True, **options
    )
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


def test_a_resumed_epoch_replays_the_same_batches(splits):
    per_epoch = -(-len(splits.train) // 5)
    from_start = batches(splits, 0, 3 * per_epoch)
    resumed = batches(splits, 2, per_epoch)
    for (x, y), (x_again, y_again) in zip(from_start[2 * per_epoch :], resumed, strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    # Each epoch is a permutation of the split, and epochs differ.
    first = [x for x, _ in from_start[:per_epoch]]
    second = [x for x, _ in from_start[per_epoch : 2 * per_epoch]]
    labels = np.concatenate([y for _, y in from_start[:per_epoch]])
    assert sorted(labels) == sorted(splits.train.labels)
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))


def test_images_are_the_decoded_files(splits):
    decoded = decode_all(splits.train, splits.recipe).astype(np.float32)
    x, y = batches(splits, 0, 1)[0]
    matches = [np.flatnonzero((decoded == image).all(axis=(1, 2, 3))) for image in x]
    for match, label in zip(matches, y, strict=True):
        assert len(match) >= 1 and splits.train.labels[match[0]] == label


@pytest.mark.parametrize("cache", ["memory", "dir"])
def test_a_cache_gives_the_same_batches_as_uint8(splits, cache, tmp_path):
    where = str(tmp_path / "cache") if cache == "dir" else cache
    plain, cached = batches(splits, 1, 2), batches(splits, 1, 2, cache=where)
    for (x, y), (x_cached, y_cached) in zip(plain, cached, strict=True):
        assert (x.dtype, x_cached.dtype) == (np.float32, np.uint8)
        np.testing.assert_array_equal(x, x_cached)
        np.testing.assert_array_equal(y, y_cached)
    # Augmented, a cached batch is float32 and the same as one decoded from the files.
    augment = ["flip", "rotate:0.2", "zoom:0.2", "contrast:0.3"]
    plain = batches(splits, 1, 2, augment=augment)
    cached = batches(splits, 1, 2, augment=augment, cache=where)
    for (x, _), (x_cached, _) in zip(plain, cached, strict=True):
        assert x_cached.dtype == np.float32
        np.testing.assert_array_equal(x, x_cached)
    if cache == "dir":
        assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
        batches(splits, 1, 1, cache=where)  # reused, not rewritten
        assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_augmentation_is_seeded_and_changes_the_pixels(splits):
    augment = ["flip", "rotate:0.2", "zoom:0.2", "contrast:0.3"]
    plain = batches(splits, 0, 2)
    first, again = batches(splits, 0, 2, augment=augment), batches(splits, 0, 2, augment=augment)
    for (x, y), (x_aug, y_aug), (x_again, _) in zip(plain, first, again, strict=True):
        np.testing.assert_array_equal(y, y_aug)
        np.testing.assert_array_equal(x_aug, x_again)
        assert not np.allclose(x, x_aug)
        assert x_aug.min() >= 0 and x_aug.max() <= 255


def test_eval_counts_every_file_once_padding_with_zero_weights(splits):
    dataset = build_file_eval_dataset(splits.test, splits.recipe, 4, static_shapes=True)
    rows = [(y.numpy(), w.numpy()) for _, y, w in dataset]
    labels = np.concatenate([y for y, _ in rows])
    weights = np.concatenate([w for _, w in rows])
    real = weights > 0
    assert all(len(y) == 4 for y, _ in rows)
    np.testing.assert_array_equal(labels[real], splits.test.labels)
    assert real.sum() == len(splits.test)


def test_a_photo_stored_turned_is_decoded_upright_as_pillow_shows_it(tmp_path):
    """One EXIF-turned JPEG among upright ones: the folder's decode turns it (an all-upright
    folder leaves the orientation ops out of the graph; this one must not)."""
    write_photo_folder(tmp_path, per_class=3)
    upright = Image.new("RGB", (40, 24), (200, 30, 30))
    upright.paste((20, 20, 220), (0, 0, 10, 24))  # a blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90° clockwise
    upright.rotate(90, expand=True).save(tmp_path / "dark" / "turned.jpg", exif=exif, quality=95)
    splits = load_splits(
        DataConfig(
            source=f"images:{tmp_path}", image_size=[24, 40], test_split=0.0, validation_split=0.0
        ),
        seed=0,
    )
    where = [str(p).endswith("turned.jpg") for p in splits.train.paths]
    decoded = decode_all(splits.train, splits.recipe)[where.index(True)]
    shown = ImageOps.exif_transpose(Image.open(tmp_path / "dark" / "turned.jpg"))
    assert shown.size == (40, 24)
    np.testing.assert_allclose(decoded, np.asarray(shown), atol=12)


def weights_before_and_after_one_epoch(splits, cache: str) -> tuple[list, list]:
    """A small CNN (dropout on) built from seed 0, then trained one epoch on the folder."""
    keras.utils.set_random_seed(0)
    model_cfg = ModelConfig(name="cnn", filters=[4], hidden_units=[8], dropout=0.2)
    model = build_model(
        model_cfg, RegularizerConfig(), splits.input_shape, splits.num_classes, splits.pixel_max
    )
    initial = model.get_weights()
    steps = batches_per_epoch(len(splits.train), 5, drop_remainder=False)
    compile_for_training(model, OptimizerConfig(name="adam", learning_rate=0.01), steps, 1)
    epoch = tf.Variable(0, dtype=tf.int64)
    dataset = build_file_dataset(
        splits.train, splits.recipe, 5, seed=7, epoch=epoch, repeat=True, cache=cache
    )
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return initial, model.get_weights()


def test_a_model_trained_on_cached_uint8_ends_with_the_float_pipelines_weights(splits):
    """The model's float32 input casts uint8 to the very floats decoding gives (whole values
    0..255 are exact), so every step computes on the same numbers: equal, not close."""
    initial, decoded = weights_before_and_after_one_epoch(splits, "none")
    _, cached = weights_before_and_after_one_epoch(splits, "memory")
    for ours, theirs in zip(decoded, cached, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert not all(np.array_equal(a, b) for a, b in zip(initial, cached, strict=True))


def test_stages_read_a_streamed_split_as_its_decoded_files(splits):
    """Batches, the first N, predictions and a seeded sample are the whole split's decoded
    images at those positions, read without decoding the split at once."""
    whole = decode_all(splits.train, splits.recipe).astype(np.float32)
    batches = list(reading.image_batches(splits, "train", batch_size=3))
    assert max(len(b) for b in batches) == 3
    np.testing.assert_array_equal(np.concatenate(batches), whole)
    np.testing.assert_array_equal(reading.first_images(splits, "train", 4), whole[:4])
    sums = reading.predict_split(lambda x: x.sum(axis=(1, 2)), splits, "train", batch_size=3)
    np.testing.assert_allclose(sums, whole.sum(axis=(1, 2)), rtol=1e-6)
    take = reading.sample_indices(len(whole), 5, seed=11)
    np.testing.assert_array_equal(reading.sample_images(splits, "train", 5, seed=11), whole[take])
    assert len(reading.sample_images(splits, "train", 10_000, seed=11)) == len(whole)


def test_an_array_split_is_sampled_at_the_same_positions():
    arrays = Splits(*(np.arange(40.0).reshape(10, 2, 2, 1), np.zeros(10, np.int64)) * 3, ["a"], 1)
    take = reading.sample_indices(10, 4, seed=5)
    np.testing.assert_array_equal(
        reading.sample_images(arrays, "val", 4, seed=5), arrays.x_val[take]
    )
    assert reading.first_images(arrays, "test", 0).shape == (0, 2, 2, 1)
