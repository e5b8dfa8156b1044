"""tfmodel.data: each source's shapes, dtypes and split sizes, its errors, and the tf.data pipeline.

Sources are fed small files written here (npz, IDX, PNG, a fake Keras cache) or TFDS' own mock,
and compared with the arrays that were written, so nothing is downloaded.
"""

import gzip
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from tfmodel.backend import keras
from tfmodel.config import DataConfig
from tfmodel.data import Splits, build_dataset, build_eval_dataset, load_splits
from tfmodel.errors import UserError

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"  # beside the repo


def fake_images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` uint8 images of `shape` and labels 0..2, each class present several times."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n) % 3


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write `array` (uint8) in the IDX format by its spec: 0, 0, type 0x08, ndim, dims as >u4."""
    data = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def assert_well_formed(splits: Splits, image_shape: tuple[int, int, int]) -> None:
    for x, y in [
        (splits.x_train, splits.y_train),
        (splits.x_val, splits.y_val),
        (splits.x_test, splits.y_test),
    ]:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(y), *image_shape)
    assert splits.input_shape == image_shape
    assert splits.num_classes == len(splits.class_names)


def test_digits_carves_a_stratified_test_split_then_validation():
    splits = load_splits(DataConfig(source="sklearn:digits"), seed=0)
    assert_well_formed(splits, (8, 8, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (1293, 144, 360)
    assert splits.pixel_max == 16 and splits.x_train.max() == 16
    assert splits.class_names == [str(d) for d in range(10)]
    # Stratified: each class is ~20 % of its examples in test (reference: sklearn's own labels).
    per_class = np.bincount(load_digits().target)
    assert np.all(np.abs(np.bincount(splits.y_test) - 0.2 * per_class) <= 1)
    # Together the three splits are the 1797 digits, each exactly once.
    everything = np.concatenate([splits.x_train, splits.x_val, splits.x_test]).reshape(1797, 64)
    expected = load_digits().data.astype(np.float32)
    assert np.array_equal(np.unique(everything, axis=0), np.unique(expected, axis=0))


def test_splits_repeat_with_the_seed_and_test_never_moves():
    cfg = DataConfig(source="sklearn:digits")
    first, again, other = (load_splits(cfg, seed=s) for s in (0, 0, 1))
    assert np.array_equal(first.x_val, again.x_val) and np.array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.x_val, other.x_val)
    assert np.array_equal(first.x_test, other.x_test)


def test_no_validation_split_gives_empty_arrays_of_the_image_shape():
    splits = load_splits(DataConfig(source="sklearn:digits", validation_split=0.0), seed=0)
    assert splits.x_val.shape == (0, 8, 8, 1) and splits.y_val.shape == (0,)
    assert len(splits.y_train) == 1797 - 360


def test_npz_keeps_test_untouched_and_carves_validation_from_train(tmp_path):
    x_train, y_train = fake_images(40, (6, 5), seed=1)
    x_test, y_test = fake_images(9, (6, 5), seed=2)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    splits = load_splits(DataConfig(source=f"npz:{path}", validation_split=0.25), seed=0)
    assert_well_formed(splits, (6, 5, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (30, 10, 9)
    assert np.array_equal(splits.x_test[..., 0], x_test) and np.array_equal(splits.y_test, y_test)
    assert splits.pixel_max == 255 and splits.class_names == ["0", "1", "2"]
    # Train and validation together hold the written train set, each image with its own label.
    got = np.concatenate([splits.x_train, splits.x_val])[..., 0].astype(np.uint8)
    got_y = np.concatenate([splits.y_train, splits.y_val])
    order = [int(np.flatnonzero((x_train == image).all(axis=(1, 2)))[0]) for image in got]
    assert sorted(order) == list(range(40)) and np.array_equal(y_train[order], got_y)


def test_npz_errors_name_the_file_and_the_keys_it_holds(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_splits(DataConfig(source=f"npz:{tmp_path / 'absent.npz'}"), seed=0)
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((2, 3, 3)), images=np.zeros(1))
    with pytest.raises(
        UserError, match=r"lacks the key\(s\) y_train, x_test, y_test.*x_train, images"
    ):
        load_splits(DataConfig(source=f"npz:{path}"), seed=0)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_reads_plain_and_gzipped_files(tmp_path, suffix):
    x_train, y_train = fake_images(30, (7, 4), seed=3)
    x_test, y_test = fake_images(6, (7, 4), seed=4)
    for name, array in [
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ]:
        write_idx(tmp_path / (name + suffix), array)
    splits = load_splits(DataConfig(source=f"idx:{tmp_path}", validation_split=0.2), seed=0)
    assert_well_formed(splits, (7, 4, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (24, 6, 6)
    assert np.array_equal(splits.x_test[..., 0], x_test) and np.array_equal(splits.y_test, y_test)


def test_idx_errors_name_the_missing_file_and_a_bad_magic_number(tmp_path):
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_splits(DataConfig(source=f"idx:{tmp_path}"), seed=0)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04 a zip, not an IDX file")
    with pytest.raises(UserError, match="magic number is 504b0304"):
        load_splits(DataConfig(source=f"idx:{tmp_path}"), seed=0)


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"the real MNIST is not in {MNIST_DIR}")
def test_idx_reads_the_real_mnist():
    splits = load_splits(DataConfig(source=f"idx:{MNIST_DIR}"), seed=0)
    assert_well_formed(splits, (28, 28, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (54000, 6000, 10000)
    # Published facts about MNIST: the first test digits, and 5923 zeros among 60000 train digits.
    assert list(splits.y_test[:5]) == [7, 2, 1, 0, 4]
    assert np.sum(splits.y_train == 0) + np.sum(splits.y_val == 0) == 5923
    assert splits.pixel_max == 255 and splits.x_test.max() == 255


def test_tfds_reads_train_and_test_of_a_mocked_mnist():
    with tfds.testing.mock_data(num_examples=20):
        splits = load_splits(DataConfig(source="tfds:mnist", validation_split=0.25), seed=0)
    assert_well_formed(splits, (28, 28, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (15, 5, 20)
    assert splits.class_names == [str(d) for d in range(10)] and splits.pixel_max == 255


def test_tfds_reads_a_named_config():
    with tfds.testing.mock_data(num_examples=4):
        splits = load_splits(DataConfig(source="tfds:mnist_corrupted:shot_noise"), seed=0)
    assert_well_formed(splits, (28, 28, 1))


def test_tfds_offline_without_a_prepared_copy_says_how_to_prepare_one(tmp_path):
    cfg = DataConfig(source="tfds:mnist", data_dir=str(tmp_path))
    with pytest.raises(UserError, match="not prepared") as error:
        load_splits(cfg, seed=0)
    assert "tfds build mnist --data_dir DIR" in str(error.value)
    assert "--set data.data_dir=DIR" in str(error.value)
    with pytest.raises(UserError, match="no dataset 'no_such_dataset'"):
        load_splits(DataConfig(source="tfds:no_such_dataset"), seed=0)


@pytest.fixture
def offline_keras(monkeypatch):
    """Keras with downloads failing, and any cached file accepted (a fake can't match its hash)."""
    data_utils = keras.src.utils.data_utils

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(data_utils, "urlretrieve", refuse)
    monkeypatch.setattr(data_utils, "validate_file", lambda *args, **kwargs: True)


def test_keras_mnist_is_read_from_the_cache(tmp_path, offline_keras):
    x_train, y_train = fake_images(20, (28, 28), seed=5)
    x_test, y_test = fake_images(5, (28, 28), seed=6)
    (tmp_path / "datasets").mkdir()
    np.savez(
        tmp_path / "datasets" / "mnist.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
    )
    splits = load_splits(DataConfig(source="keras:mnist", data_dir=str(tmp_path)), seed=0)
    assert_well_formed(splits, (28, 28, 1))
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (18, 2, 5)
    assert np.array_equal(splits.x_test[..., 0], x_test) and splits.pixel_max == 255


def test_keras_without_a_cached_file_says_where_to_put_it(tmp_path, offline_keras):
    with pytest.raises(UserError, match="could not be downloaded") as error:
        load_splits(DataConfig(source="keras:mnist", data_dir=str(tmp_path)), seed=0)
    assert f"{tmp_path}/datasets/mnist.npz" in str(error.value) and "npz:PATH" in str(error.value)
    with pytest.raises(UserError, match="keras:mnist, keras:fashion_mnist, keras:cifar10"):
        load_splits(DataConfig(source="keras:imagenet"), seed=0)


def test_an_unknown_scheme_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown scheme 'csv'.*sklearn:, tfds:, keras:, npz:"):
        load_splits(DataConfig(source="csv:data.csv"), seed=0)


def test_build_dataset_batches_and_drops_the_remainder_into_a_static_batch_dim():
    x, y = np.arange(10 * 2 * 2, dtype=np.float32).reshape(10, 2, 2, 1), np.arange(10)
    kept = build_dataset(x, y, 4, shuffle=False, seed=0)
    assert kept.element_spec[0].shape.as_list() == [None, 2, 2, 1]
    assert [len(b) for b, _ in kept] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b for _, b in kept]), y)  # In order without shuffle.
    dropped = build_dataset(x, y, 4, shuffle=False, seed=0, drop_remainder=True)
    assert dropped.element_spec[0].shape[0] == 4 and dropped.element_spec[1].shape[0] == 4
    assert [len(b) for b, _ in dropped] == [4, 4]


def test_build_dataset_shuffles_by_seed_and_anew_each_epoch():
    x, y = np.zeros((64, 1, 1, 1), np.float32), np.arange(64)

    def epochs(dataset):
        return [np.concatenate([b.numpy() for _, b in dataset]) for _ in range(2)]

    first, second = epochs(build_dataset(x, y, 8, shuffle=True, seed=7))
    again, _ = epochs(build_dataset(x, y, 8, shuffle=True, seed=7))
    assert sorted(first) == list(range(64)) and not np.array_equal(first, y)
    assert np.array_equal(first, again) and not np.array_equal(first, second)


def test_with_an_epoch_variable_the_order_depends_on_seed_and_epoch_alone():
    """A resumed run makes a new pipeline and starts at epoch k: it must see epoch k's order."""
    from tfmodel.backend import tf

    x, y = np.zeros((70, 2, 2, 1), np.float32), np.arange(70)
    epoch = tf.Variable(0, dtype=tf.int64)
    dataset = build_dataset(x, y, 16, shuffle=True, seed=3, drop_remainder=True, epoch=epoch)
    assert int(dataset.cardinality()) == 4 and dataset.element_spec[1].shape[0] == 16

    def order(data, at: int) -> list[int]:
        epoch.assign(at)
        return np.concatenate([labels.numpy() for _, labels in data]).tolist()

    seen = [order(dataset, at) for at in range(3)]
    assert len({tuple(o) for o in seen}) == 3  # each epoch its own order
    assert all(len(set(o)) == 64 for o in seen)  # 4 full batches of distinct examples
    fresh = build_dataset(x, y, 16, shuffle=True, seed=3, drop_remainder=True, epoch=epoch)
    assert order(fresh, 2) == seen[2]  # a new pipeline (a new process) replays epoch 2 alike
    assert order(dataset, 1) == seen[1]
    other = build_dataset(x, y, 16, shuffle=True, seed=4, drop_remainder=True, epoch=epoch)
    assert order(other, 2) != seen[2]


@pytest.mark.parametrize("batch", [7, 8, 32, 100, 256])
def test_eval_batches_are_full_and_hold_every_example_once(batch):
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)
    y = np.arange(100) % 10
    batches = list(build_eval_dataset(x, y, batch, static_shapes=True).as_numpy_iterator())
    assert {len(b[0]) for b in batches} == {batch}  # one static shape, last batch padded
    xs, ys, ws = (np.concatenate(parts) for parts in zip(*batches, strict=True))
    real = ws > 0
    assert sorted(xs[real].ravel().tolist()) == list(range(100))  # each example exactly once
    np.testing.assert_array_equal(ys[real], y)
    assert ws[real].sum() == pytest.approx(len(xs))  # real rows carry the padded/real factor
    dynamic = list(build_eval_dataset(x, y, batch, static_shapes=False).as_numpy_iterator())
    assert sum(len(b[0]) for b in dynamic) == 100 and all((b[2] == 1).all() for b in dynamic)


def test_padded_evaluation_gives_the_loss_and_accuracy_of_the_whole_split():
    from tfmodel.config import ModelConfig, OptimizerConfig, RegularizerConfig
    from tfmodel.models import build_model, compile_for_training

    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(hidden_units=[8]), RegularizerConfig(), (2, 2, 1), 3, 1.0)
    compile_for_training(model, OptimizerConfig(), 1, 1)
    rng = np.random.default_rng(0)
    x, y = rng.random((37, 2, 2, 1), dtype=np.float32), rng.integers(0, 3, 37)
    whole = model.evaluate(x, y, batch_size=37, verbose=0)
    for batch in (8, 16, 64):
        padded = model.evaluate(build_eval_dataset(x, y, batch, static_shapes=True), verbose=0)
        np.testing.assert_allclose(padded, whole, rtol=1e-6)
