"""Integrated gradients against closed forms and its axioms (completeness, zero where x = x′)."""

import numpy as np
import pytest

from tfmodel.analysis.integrated_gradients import integrated_gradients
from tfmodel.backend import keras


def tiny_mlp(seed: int = 0, shape=(8, 8, 1), classes: int = 3) -> keras.Model:
    """A small untrained non-linear model: tanh keeps the gradient varying along the path."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def images(n: int, shape=(8, 8, 1), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


def test_linear_model_gets_exactly_weight_times_input():
    """For F(x) = w·x + b the integral is w, so attributions are w ⊙ (x − x′) for any steps."""
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    x = images(3, (4, 4, 1))
    result = integrated_gradients(model, x, targets=np.array([0, 1, 1]), steps=4)
    w = model.layers[-1].kernel.numpy()  # (16, 2)
    expected = np.stack([x[i].ravel() * w[:, t] for i, t in enumerate([0, 1, 1])])
    np.testing.assert_allclose(result.values.reshape(3, -1), expected, rtol=1e-5, atol=1e-6)


def test_attributions_sum_to_the_logit_gain_within_five_percent():
    model, x = tiny_mlp(), images(8)
    result = integrated_gradients(model, x, steps=50, batch_size=64)  # several batches
    logits = model.predict(x, verbose=0)
    baseline_logits = model.predict(np.zeros((1, 8, 8, 1)), verbose=0)[0]
    np.testing.assert_array_equal(result.targets, logits.argmax(axis=1))
    gain = logits[np.arange(8), result.targets] - baseline_logits[result.targets]
    np.testing.assert_allclose(result.logit_gain, gain, rtol=1e-5, atol=1e-6)
    total = result.values.reshape(8, -1).sum(axis=1)
    assert np.all(np.abs(total - gain) <= 0.05 * np.abs(gain))
    assert result.completeness_error.max() < 0.05


def test_pixels_equal_to_the_baseline_get_zero():
    model, x = tiny_mlp(), images(4)
    baseline = np.full((8, 8, 1), 0.5, np.float32)
    x[:, :3] = 0.5  # the top three rows equal the baseline
    values = integrated_gradients(model, x, baseline=baseline, steps=8).values
    assert np.all(values[:, :3] == 0)
    assert np.count_nonzero(values[:, 3:]) > 0


def test_a_model_that_reads_only_the_left_half_is_credited_there():
    mask = np.zeros((1, 8, 8, 1), np.float32)
    mask[:, :, :4] = 1
    inputs = keras.Input((8, 8, 1))
    left = keras.layers.Lambda(lambda t: t * mask)(inputs)
    hidden = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(left))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    values = integrated_gradients(model, images(6), steps=16).values
    assert np.all(values[:, :, 4:] == 0)
    assert np.abs(values[:, :, :4]).sum() > 0


@pytest.mark.parametrize("steps", [1, 50])
def test_batching_does_not_change_the_result(steps):
    model, x = tiny_mlp(), images(3)
    one_go = integrated_gradients(model, x, steps=steps, batch_size=10_000).values
    small = integrated_gradients(model, x, steps=steps, batch_size=7).values
    np.testing.assert_allclose(small, one_go, rtol=1e-5, atol=1e-7)
