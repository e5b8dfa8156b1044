"""Pruning a Keras 3 model: TFMOT's schedule, zeros after every step, a plain model and `.tflite`
that hold the target sparsity in every pruned kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edge.prune_keras3 import (  # noqa: E402
    MagnitudePruning,
    magnitude_mask,
    prune_keras3_model,
)
from edge.sparsity import PolynomialDecay, tflite_kernel_sparsity  # noqa: E402
from tfmodel.backend import tf  # noqa: E402
from tfmodel.config import OptimizerConfig  # noqa: E402
from tfmodel.errors import UserError  # noqa: E402
from tfmodel.keras3 import keras  # noqa: E402
from tfmodel.optimizers import keras3 as keras3_optimizers  # noqa: E402
from tfmodel.optimizers.keras3 import make_keras3_optimizer  # noqa: E402

import tensorflow_model_optimization as tfmot  # noqa: E402  isort: skip

TARGET = 0.5
TOLERANCE = 0.01


def small_cnn() -> keras.Model:
    """Every kernel kind the pruner masks: Conv2D, DepthwiseConv2D, SeparableConv2D's two, Dense
    (each with ≥ 50 weights, so a rounded count stays within 0.01 of the target)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
            keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw"),
            keras.layers.SeparableConv2D(8, 3, depth_multiplier=1, name="sep"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, name="dense"),
        ]
    )


def random_batches(shape: tuple[int, ...], classes: int, batches: int = 4) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8 * batches, *shape)).astype("float32")
    y = rng.integers(0, classes, 8 * batches)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


@pytest.mark.parametrize(
    "initial, final, begin, end, power, frequency",
    [(0.0, 0.8, 0, 30, 3, 4), (0.2, 0.5, 5, 17, 2, 3), (0.0, 0.9, 3, 3, 3, 1)],
)
def test_schedule_equals_tfmot_polynomial_decay(initial, final, begin, end, power, frequency):
    args = dict(
        initial_sparsity=initial,
        final_sparsity=final,
        begin_step=begin,
        end_step=end,
        power=power,
        frequency=frequency,
    )
    ours, theirs = PolynomialDecay(**args), tfmot.sparsity.keras.PolynomialDecay(**args)
    for step in range(end + 6):
        due, sparsity = theirs(tf.constant(step, tf.int64))
        assert ours(step)[0] == bool(due), step
        if begin != end:  # TFMOT divides 0 by 0 there; ours reaches the target at once
            assert ours(step)[1] == pytest.approx(float(sparsity), abs=1e-6), step


def test_schedule_defaults_are_tfmot_s():
    ours, theirs = (
        PolynomialDecay(0.0, 0.5, 0, 10),
        tfmot.sparsity.keras.PolynomialDecay(0.0, 0.5, 0, 10),
    )
    assert (ours.power, ours.frequency) == (theirs.power, theirs.frequency)


def test_magnitude_mask_zeros_the_smallest_exactly():
    weights = np.array([[0.3, -0.1], [2.0, 0.1], [-0.5, 0.0]], np.float32)
    np.testing.assert_array_equal(magnitude_mask(weights, 0.5), [[1, 0], [1, 0], [1, 0]])
    assert magnitude_mask(weights, 0.0).all()


def test_masked_weights_are_zero_after_every_optimizer_step():
    """A mask update every 2 steps; after EVERY step (updates or not) each kernel is zero where
    its mask is, and holds exactly the scheduled count of zeros."""
    model = small_cnn()
    schedule = PolynomialDecay(0.0, TARGET, begin_step=0, end_step=6, frequency=2)
    pruning = MagnitudePruning(model, schedule)
    checked = []

    class CheckZeros(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(model.optimizer.iterations) - 1
            last_update = step - (step - schedule.begin_step) % schedule.frequency
            expected = schedule(min(last_update, schedule.end_step))[1]
            for kernel, mask, _ in pruning._masks:
                values, mask = kernel.numpy(), mask.numpy()
                assert np.all(values[mask == 0] == 0)
                assert np.mean(values == 0) == pytest.approx(expected, abs=TOLERANCE)
            checked.append(step)

    model.compile(keras3_optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(
        random_batches((8, 8, 3), 10),
        epochs=2,
        callbacks=[pruning, CheckZeros()],
        shuffle=False,
        verbose=0,
    )
    assert checked == list(range(8))
    assert len(pruning._masks) == 5  # conv, dw, sep (depthwise and pointwise), dense

    before = model.predict(np.ones((2, 8, 8, 3), np.float32), verbose=0)
    pruning.strip()
    assert all(kernel.constraint is None for kernel, _, _ in pruning._masks)
    np.testing.assert_array_equal(
        model.predict(np.ones((2, 8, 8, 3), np.float32), verbose=0), before
    )


def test_a_restarted_fit_goes_on_with_the_masks_its_backup_saved(tmp_path):
    """With a backup folder the masks are saved at each epoch's end by optimizer step; a new
    MagnitudePruning whose optimizer is restored to that step loads them at its first batch."""
    schedule = PolynomialDecay(0.0, TARGET, 0, end_step=2, frequency=1)
    model = small_cnn()
    pruning = MagnitudePruning(model, schedule, tmp_path)
    model.compile(keras3_optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(random_batches((8, 8, 3), 10), callbacks=[pruning], shuffle=False, verbose=0)
    masks = [mask.numpy() for _, mask, _ in pruning._masks]
    assert 0 < np.mean(masks[0]) < 1
    assert [p.name for p in tmp_path.iterdir()] == ["masks-4.npz"]

    restarted = small_cnn()
    resumed = MagnitudePruning(restarted, schedule, tmp_path)
    restarted.compile(keras3_optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    restarted.optimizer.build(restarted.trainable_variables)
    restarted.optimizer.iterations.assign(4)  # what BackupAndRestore restores
    resumed.set_model(restarted)
    resumed.on_train_batch_begin(0)
    for saved, (_, mask, _) in zip(masks, resumed._masks, strict=True):
        np.testing.assert_array_equal(mask.numpy(), saved)


def test_nested_models_are_pruned_and_other_kernels_listed_as_skipped():
    """A model inside a model (as in transfer learning) has its kernels pruned; an Embedding's
    table is a 2-D weight the pruner does not know, so it is named in `skipped` and kept whole."""
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, name="inner_dense")])
    tokens = keras.Input((2,), dtype="int32")
    features = keras.layers.Flatten()(keras.layers.Embedding(10, 8, name="embedding")(tokens))
    model = keras.Model(tokens, keras.layers.Dense(10, name="head")(inner(features)))
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.integers(0, 10, (16, 2)), rng.integers(0, 10, 16))
    ).batch(8)
    result = prune_keras3_model(
        model,
        data,
        target_sparsity=TARGET,
        epochs=1,
        optimizer=keras3_optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        verbose=0,
    )
    assert result.skipped == ["embedding"]
    pruned = result.model
    dense = [pruned.get_layer("head"), pruned.get_layer(inner.name).get_layer("inner_dense")]
    assert sorted(result.sparsity) == sorted(layer.kernel.path for layer in dense)
    assert all(sparsity == TARGET for sparsity in result.sparsity.values())
    embedding = result.model.get_layer("embedding").embeddings.numpy()
    assert np.mean(embedding == 0) == 0


def test_bad_settings_are_user_errors():
    model, data = small_cnn(), random_batches((8, 8, 3), 10).repeat()
    kwargs = dict(optimizer=keras.optimizers.SGD(), loss="sparse_categorical_crossentropy")
    with pytest.raises(UserError, match="edge.target_sparsity"):
        prune_keras3_model(model, data, target_sparsity=1.0, epochs=1, **kwargs)
    with pytest.raises(UserError, match="steps_per_epoch"):
        prune_keras3_model(model, data, target_sparsity=0.5, epochs=1, **kwargs)


class PredictionsAtTheEnd(keras.callbacks.Callback):
    """The fine-tuned model's predictions on `x` once training ends, masks still attached."""

    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        self.x = x

    def on_train_end(self, logs=None):
        self.predictions = self.model.predict(self.x, verbose=0)


@pytest.fixture(scope="module")
def pruned_mobilenet():
    """A small Keras 3 MobileNetV3Small (depthwise convs, squeeze-excite, hard-swish) pruned to
    TARGET in 2 short epochs with the project's Adam: (original, PruneResult, optimizer, the
    pruned model's predictions before stripping, their inputs)."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=3
    )
    optimizer = make_keras3_optimizer(OptimizerConfig(name="adam", learning_rate=1e-3), 4, 2)
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    before_strip = PredictionsAtTheEnd(x)
    result = prune_keras3_model(
        model,
        random_batches((32, 32, 3), 3).map(lambda x, y: (x * 255, y)),
        target_sparsity=TARGET,
        epochs=2,
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        callbacks=[before_strip],
        verbose=0,
    )
    return model, result, optimizer, before_strip.predictions, x


@pytest.mark.slow
def test_mobilenet_every_kernel_holds_the_target_and_the_model_stays_plain(pruned_mobilenet):
    model, result, optimizer, _, _ = pruned_mobilenet
    pruned = result.model
    depthwise = [
        layer for layer in pruned.layers if isinstance(layer, keras.layers.DepthwiseConv2D)
    ]
    assert depthwise and all(f"{layer.name}/kernel" in result.sparsity for layer in depthwise)
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    assert len(result.sparsity) == sum(isinstance(layer, kinds) for layer in pruned.layers)
    assert result.skipped == []
    for path, sparsity in result.sparsity.items():
        assert sparsity == pytest.approx(TARGET, abs=TOLERANCE), path
    assert [type(layer) for layer in pruned.layers] == [type(layer) for layer in model.layers]
    assert [w.path for w in pruned.weights] == [w.path for w in model.weights]
    assert all(w.constraint is None for w in pruned.weights)
    assert not pruned.compiled  # its .keras file needs none of our classes to load
    assert type(optimizer) is keras3_optimizers.Adam and int(optimizer.iterations) == 2 * 4


@pytest.mark.slow
def test_mobilenet_saved_and_converted_keeps_the_zeros_and_the_predictions(
    pruned_mobilenet, tmp_path
):
    _, result, _, pruned_predictions, x = pruned_mobilenet
    expected = result.model.predict(x, verbose=0)
    np.testing.assert_array_equal(expected, pruned_predictions)

    result.model.save(tmp_path / "pruned.keras")
    loaded = keras.models.load_model(tmp_path / "pruned.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)

    result.model.export(tmp_path / "saved", verbose=False)
    tflite = tmp_path / "pruned.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved")).convert())
    in_file = tflite_kernel_sparsity(tflite)
    # Batch norm is folded into the kernels before it (a per-channel factor): zeros stay zeros.
    assert len(in_file) == len(result.sparsity)
    for name, sparsity in in_file.items():
        assert sparsity == pytest.approx(TARGET, abs=TOLERANCE), name
    runner = Interpreter(model_path=str(tflite)).get_signature_runner()
    (output,) = runner(**{runner.get_input_details().popitem()[0]: x}).values()
    np.testing.assert_allclose(output, expected, atol=1e-5)
