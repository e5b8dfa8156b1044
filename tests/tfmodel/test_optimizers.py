"""The project's optimizers, for both Kerases, against numpy transcriptions of their rules and
each Keras' built-ins, from one table of cases.

Every optimizer steps a float32 variable through the same fixed, per-step different gradients;
the references below are written from the textbook formulas in float64, independently of the
code under test. Gradients are kept away from zero so float32 rounding stays far below 1e-6.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pytest

from tfmodel import keras3
from tfmodel.backend import keras, tf
from tfmodel.config import OptimizerConfig
from tfmodel.errors import UserError
from tfmodel.optimizers import CUSTOM_OBJECTS, SGD, Adam, RMSprop, make_optimizer
from tfmodel.optimizers import keras3 as keras3_optimizers
from tfmodel.optimizers import tf_keras as tf_keras_optimizers

STEPS = 12
TOLERANCE = 1e-6
# Against the numpy reference, which keeps every moment as the textbook writes it (β·m + (1−β)·g)
# where the rules use Keras' m + (1−β)·(g − m): a few float32 roundings (2e-7 at |θ| ≈ 2) apart.
REFERENCE_TOLERANCE = 2e-6
_rng = np.random.default_rng(0)
THETA0 = np.array([1.0, -0.5, 0.25, 2.0], np.float32)
GRADIENTS = (_rng.uniform(0.5, 1.5, (STEPS, 4)) * _rng.choice([-1, 1], (STEPS, 4))).astype(
    np.float32
)


def as_float32(*values):
    """Hyperparameters as the optimizer sees them: cast to the float32 variable's dtype.

    float32(0.999) is 0.99900001, so 1 − β2 is off by 1e-5 relatively; the references use the same
    values so that the comparison tests the rule rather than how 0.999 rounds.
    """
    return [float(np.float32(value)) for value in values]


def sgd_reference(lr, momentum=0.0, nesterov=False):
    """θ ← θ − α·g, or v ← μ·v − α·g; θ ← θ + v (Nesterov: θ ← θ + μ·v − α·g).

    `lr` is a number or one rate per step (as a schedule gives).
    """
    alphas = as_float32(*np.broadcast_to(lr, STEPS))
    (momentum,) = as_float32(momentum)
    theta, v, path = THETA0.astype(np.float64), 0.0, []
    for alpha, g in zip(alphas, GRADIENTS.astype(np.float64), strict=True):
        if momentum == 0:
            theta = theta - alpha * g
        else:
            v = momentum * v - alpha * g
            theta = theta + (momentum * v - alpha * g if nesterov else v)
        path.append(theta)
    return np.array(path)


def adam_reference(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, bias_correction=True, amsgrad=False):
    """m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², θ ← θ − η·m̂/(√v̂ + ε) (or m, v plain);
    AMSGrad steps with v_max ← max(v_max, v) in place of v, bias-corrected the same way."""
    lr, beta_1, beta_2, epsilon = as_float32(lr, beta_1, beta_2, epsilon)
    theta, m, v, v_max, path = THETA0.astype(np.float64), 0.0, 0.0, 0.0, []
    for t, g in enumerate(GRADIENTS.astype(np.float64), start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = np.maximum(v_max, v)
        v_step = v_max if amsgrad else v
        if bias_correction:
            m_hat, v_hat = m / (1 - beta_1**t), v_step / (1 - beta_2**t)
        else:
            m_hat, v_hat = m, v_step
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + epsilon)
        path.append(theta)
    return np.array(path)


def rmsprop_reference(lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    """s ← ρ·s + (1−ρ)·g²; step = α·g/√(s [− ḡ²] + ε); θ ← θ − step (or through momentum b)."""
    lr, rho, momentum, epsilon = as_float32(lr, rho, momentum, epsilon)
    theta, s, g_mean, b, path = THETA0.astype(np.float64), 0.0, 0.0, 0.0, []
    for g in GRADIENTS.astype(np.float64):
        s = rho * s + (1 - rho) * g**2
        g_mean = rho * g_mean + (1 - rho) * g
        step = lr * g / np.sqrt(s - (g_mean**2 if centered else 0.0) + epsilon)
        b = momentum * b + step
        theta = theta - b
        path.append(theta)
    return np.array(path)


class Side(NamedTuple):
    """One Keras: its module, the project's optimizers for it, and how the optimizer is built."""

    keras: ModuleType
    optimizers: ModuleType
    make: Callable[..., Any]


SIDES = {
    "tf_keras": Side(keras, tf_keras_optimizers, tf_keras_optimizers.make_optimizer),
    "keras3": Side(keras3.keras, keras3_optimizers, keras3_optimizers.make_keras3_optimizer),
}


def variable(side: str, value: np.ndarray):
    """A float32 model variable of `side`'s Keras holding `value`."""
    return keras3.keras.Variable(value) if side == "keras3" else tf.Variable(value)


def run(optimizer, gradients=GRADIENTS, side: str = "tf_keras") -> np.ndarray:
    """The variable's value after each step of `optimizer` on `gradients`, starting at THETA0."""
    var = variable(side, THETA0)
    path = []
    for g in gradients:
        optimizer.apply_gradients([(tf.constant(g), var)])
        path.append(var.numpy())
    return np.array(path)


class Case(NamedTuple):
    """One optimizer setting: the class name and arguments (the project's and, where `builtin`,
    Keras' own take the same), and its numpy reference."""

    cls: str
    kwargs: dict[str, Any]
    reference: Callable[[], np.ndarray]
    builtin: tuple[str, ...] = tuple(SIDES)  # the Kerases whose built-in follows the same rule
    builtin_extra: dict[str, Any] = {}  # noqa: RUF012  (read only)


CASES: dict[str, Case] = {
    "sgd": Case("SGD", dict(learning_rate=0.1), lambda: sgd_reference(0.1)),
    "sgd_momentum": Case(
        "SGD", dict(learning_rate=0.05, momentum=0.9), lambda: sgd_reference(0.05, momentum=0.9)
    ),
    "sgd_nesterov": Case(
        "SGD",
        dict(learning_rate=0.05, momentum=0.9, nesterov=True),
        lambda: sgd_reference(0.05, momentum=0.9, nesterov=True),
    ),
    "adam": Case("Adam", dict(learning_rate=0.01), lambda: adam_reference(0.01)),
    # β2 = 0.5 lets v fall between steps, where AMSGrad's v_max departs from it.
    "adam_beta_2_half": Case(
        "Adam", dict(learning_rate=0.01, beta_2=0.5), lambda: adam_reference(0.01, beta_2=0.5)
    ),
    "adam_amsgrad": Case(
        "Adam",
        dict(learning_rate=0.01, beta_2=0.5, amsgrad=True),
        lambda: adam_reference(0.01, beta_2=0.5, amsgrad=True),
    ),
    "adam_no_bias_correction": Case(
        "Adam",
        dict(learning_rate=0.01, bias_correction=False),
        lambda: adam_reference(0.01, bias_correction=False),
        builtin=(),
    ),
    # A large ε pins down where ε goes: outside √v̂ for Adam (tf_keras' built-in's
    # `adaptive_epsilon` form, which is exactly the textbook m̂/(√v̂ + ε); Keras 3's adds ε to √v),
    # inside the square root for RMSprop.
    "adam_large_epsilon": Case(
        "Adam",
        dict(learning_rate=0.01, epsilon=0.1),
        lambda: adam_reference(0.01, epsilon=0.1),
        builtin=("tf_keras",),
        builtin_extra=dict(adaptive_epsilon=True),
    ),
    "rmsprop_large_epsilon": Case(
        "RMSprop",
        dict(learning_rate=0.01, epsilon=0.1),
        lambda: rmsprop_reference(0.01, epsilon=0.1),
    ),
    "rmsprop": Case("RMSprop", dict(learning_rate=0.01), lambda: rmsprop_reference(0.01)),
    "rmsprop_momentum_centered": Case(
        "RMSprop",
        dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True),
        lambda: rmsprop_reference(0.01, rho=0.8, momentum=0.5, centered=True),
    ),
}
SIDE_CASES = [(side, name) for side in SIDES for name in CASES]
BUILTIN_CASES = [(side, name) for side, name in SIDE_CASES if side in CASES[name].builtin]


def ours(name: str, side: str = "tf_keras"):
    case = CASES[name]
    return getattr(SIDES[side].optimizers, case.cls)(**case.kwargs)


def builtin(name: str, side: str):
    case = CASES[name]
    return getattr(SIDES[side].keras.optimizers, case.cls)(**case.kwargs, **case.builtin_extra)


@pytest.mark.parametrize("side, name", SIDE_CASES)
def test_each_step_equals_the_numpy_reference(side, name):
    path = run(ours(name, side), side=side)
    np.testing.assert_allclose(path, CASES[name].reference(), rtol=0, atol=REFERENCE_TOLERANCE)


@pytest.mark.parametrize("side, name", BUILTIN_CASES)
def test_each_step_equals_keras_builtin(side, name):
    expected = run(builtin(name, side), side=side)
    np.testing.assert_allclose(run(ours(name, side), side=side), expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", CASES)
def test_both_kerases_take_the_same_steps(name):
    """One rule: the tf_keras and Keras 3 classes agree to float32 rounding on every step."""
    np.testing.assert_allclose(
        run(ours(name, "keras3"), side="keras3"), run(ours(name)), rtol=0, atol=TOLERANCE
    )


@pytest.mark.parametrize(
    "first, second",
    [
        ("sgd", "sgd_momentum"),
        ("sgd_momentum", "sgd_nesterov"),
        ("adam", "adam_no_bias_correction"),
        ("adam_beta_2_half", "adam_amsgrad"),
        ("rmsprop", "rmsprop_momentum_centered"),
        ("adam", "adam_large_epsilon"),
        ("rmsprop", "rmsprop_large_epsilon"),
    ],
)
def test_variants_take_different_paths(first, second):
    """Each option changes the trajectory by far more than the tolerance, so none is a no-op."""
    gap = np.abs(run(ours(first)) - run(ours(second))).max()
    assert gap > 1000 * TOLERANCE


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "rmsprop"])
def test_sparse_gradient_gives_the_dense_result(side, name):
    """An IndexedSlices gradient (as from an Embedding) updates exactly like its dense form."""
    values = tf.constant([[1.0, -2.0], [0.5, 0.5], [3.0, 1.0]])
    sparse = tf.IndexedSlices(values, tf.constant([2, 0, 2]), tf.constant([4, 2]))
    dense = tf.convert_to_tensor(sparse)
    paths = []
    for gradient in (sparse, dense):
        optimizer = ours(name, side)
        var = variable(side, np.ones([4, 2], np.float32))
        for _ in range(3):
            optimizer.apply_gradients([(gradient, var)])
        paths.append(var.numpy())
    np.testing.assert_allclose(paths[0], paths[1], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("side", SIDES)
def test_learning_rate_schedule_is_followed_step_by_step(side):
    schedules = SIDES[side].keras.optimizers.schedules
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.8)
    expected = sgd_reference(0.1 * 0.8 ** np.arange(STEPS), momentum=0.9)
    optimizer = SIDES[side].optimizers.SGD(schedule, momentum=0.9)
    np.testing.assert_allclose(run(optimizer, side=side), expected, atol=TOLERANCE)


@pytest.mark.parametrize("side, name", SIDE_CASES)
def test_config_round_trip_rebuilds_the_same_optimizer(side, name):
    optimizer, optimizers = ours(name, side), SIDES[side].keras.optimizers
    config = optimizer.get_config()
    assert type(optimizer).from_config(config).get_config() == config
    revived = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(revived) is type(optimizer)
    np.testing.assert_allclose(run(revived, side=side), run(optimizer, side=side), rtol=0, atol=0)


def test_config_round_trip_keeps_a_schedule():
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=50)
    revived = Adam.from_config(Adam(schedule, bias_correction=False).get_config())
    assert isinstance(revived._learning_rate, keras.optimizers.schedules.CosineDecay)
    assert revived._learning_rate.get_config() == schedule.get_config()
    assert revived.bias_correction is False


@pytest.mark.parametrize("side", SIDES)
def test_custom_objects_name_every_optimizer(side):
    module = SIDES[side].optimizers
    assert module.CUSTOM_OBJECTS == {
        f"tfmodel>{cls.__name__}": cls for cls in (module.SGD, module.Adam, module.RMSprop)
    }


def test_package_keeps_the_tf_keras_names():
    assert (SGD, Adam, RMSprop, CUSTOM_OBJECTS, make_optimizer) == (
        tf_keras_optimizers.SGD,
        tf_keras_optimizers.Adam,
        tf_keras_optimizers.RMSprop,
        tf_keras_optimizers.CUSTOM_OBJECTS,
        tf_keras_optimizers.make_optimizer,
    )


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "name, cls, attrs",
    [
        ("sgd", "SGD", {"momentum": 0.8, "nesterov": True}),
        (
            "adam",
            "Adam",
            {"beta_1": 0.8, "epsilon": 1e-6, "bias_correction": False, "amsgrad": True},
        ),
        ("rmsprop", "RMSprop", {"rho": 0.7, "momentum": 0.0, "epsilon": 1e-6}),
    ],
)
def test_make_optimizer_builds_the_named_optimizer(side, name, cls, attrs):
    cfg = OptimizerConfig(
        name=name,
        learning_rate=0.02,
        momentum=0.8,
        nesterov=True,
        beta_1=0.8,
        epsilon=1e-6,
        bias_correction=False,
        amsgrad=True,
        rho=0.7,
    )
    optimizer = SIDES[side].make(cfg, steps_per_epoch=10, epochs=2, learning_rate_scale=2.0)
    assert type(optimizer) is getattr(SIDES[side].optimizers, cls)
    assert {key: getattr(optimizer, key) for key in attrs} == pytest.approx(attrs)
    assert float(optimizer.learning_rate) == pytest.approx(0.04)


@pytest.mark.parametrize("side", SIDES)
def test_make_optimizer_schedules(side):
    make, schedules = SIDES[side].make, SIDES[side].keras.optimizers.schedules
    cosine = make(OptimizerConfig(learning_rate=0.1, schedule="cosine"), 10, 3, 2.0)
    schedule = cosine._learning_rate
    assert isinstance(schedule, schedules.CosineDecay)
    assert float(schedule(0)) == pytest.approx(0.2)
    assert float(schedule(15)) == pytest.approx(0.1)
    assert float(schedule(30)) == pytest.approx(0.0, abs=1e-7)
    cfg = OptimizerConfig(learning_rate=0.1, schedule="exponential", decay_rate=0.5)
    schedule = make(cfg, 10, 3)._learning_rate
    assert [float(schedule(step)) for step in (0, 10, 20)] == pytest.approx([0.1, 0.05, 0.025])


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "changes, steps_per_epoch, words",
    [
        ({"name": "adagrad"}, 10, "optimizer.name"),
        ({"schedule": "linear"}, 10, "optimizer.schedule"),
        ({"learning_rate": 0.0}, 10, "optimizer.learning_rate"),
        ({"momentum": 1.5}, 10, "optimizer.momentum"),
        ({"schedule": "exponential", "decay_rate": 0.0}, 10, "optimizer.decay_rate"),
        ({}, 0, "steps_per_epoch"),
    ],
)
def test_make_optimizer_rejects_bad_settings_naming_the_key(side, changes, steps_per_epoch, words):
    cfg = dataclasses.replace(OptimizerConfig(), **changes)
    with pytest.raises(UserError, match=words):
        SIDES[side].make(cfg, steps_per_epoch, epochs=1)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_fit_then_save_and_load_keeps_the_optimizer_and_its_slots(tmp_path, side, name):
    """A `.keras` file keeps the project's class, its config and every slot, with no custom
    objects passed: the classes are registered with each Keras."""
    k = SIDES[side].keras
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    optimizer = SIDES[side].make(OptimizerConfig(name=name, schedule="cosine", amsgrad=True), 4, 2)
    model.compile(optimizer, k.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.ones((8, 3), np.float32), np.array([0, 1] * 4)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")

    loaded = k.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is type(optimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    saved, restored = optimizer.variables, loaded.optimizer.variables
    assert int(loaded.optimizer.iterations) == 1
    # iterations, then per variable the slots: velocity; Adam's three (amsgrad); mean_square
    assert len(saved) == 1 + {"sgd": 1, "adam": 3, "rmsprop": 1}[name] * 2
    for before, after in zip(saved, restored, strict=True):
        np.testing.assert_array_equal(after.numpy(), before.numpy())


def test_checkpoint_restores_slots_into_a_fresh_optimizer(tmp_path):
    var, optimizer = tf.Variable(THETA0), RMSprop(0.01, momentum=0.5, centered=True)
    for g in GRADIENTS[:3]:
        optimizer.apply_gradients([(tf.constant(g), var)])
    path = tf.train.Checkpoint(var=var, optimizer=optimizer).save(tmp_path / "ckpt")

    fresh_var, fresh = (
        tf.Variable(np.zeros(4, np.float32)),
        RMSprop(0.01, momentum=0.5, centered=True),
    )
    status = tf.train.Checkpoint(var=fresh_var, optimizer=fresh).restore(path)
    fresh.build([fresh_var])  # slots made after the restore pick up their saved values
    status.assert_consumed()
    for name in ("mean_square", "mean_gradient", "momentum"):
        np.testing.assert_array_equal(fresh.slot(name, fresh_var), optimizer.slot(name, var))
    assert int(fresh.iterations) == 3
    for opt, v in ((optimizer, var), (fresh, fresh_var)):
        opt.apply_gradients([(tf.constant(GRADIENTS[3]), v)])
    np.testing.assert_array_equal(fresh_var.numpy(), var.numpy())


def test_one_step_under_mirrored_strategy_follows_the_rule():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        var, optimizer = tf.Variable(THETA0), Adam(0.01)

    @tf.function
    def step(g):
        strategy.run(lambda: optimizer.apply_gradients([(g, var)]))

    for g in GRADIENTS[:2]:
        step(tf.constant(g))
    np.testing.assert_allclose(var.numpy(), adam_reference(0.01)[1], rtol=0, atol=TOLERANCE)


def test_keras3_fit_under_mirrored_strategy_takes_the_steps_it_takes_without():
    """Keras 3 distributes its update inside `fit` (an `apply_gradients` in `strategy.run` fails
    for Keras 3's own Adam too); there the project's class steps as it does without a strategy."""
    k = keras3.keras
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 2

    def fit(strategy):
        with strategy.scope():
            k.utils.set_random_seed(0)
            model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
            model.compile(
                keras3_optimizers.Adam(0.01), k.losses.SparseCategoricalCrossentropy(True)
            )
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()[0]

    mirrored = fit(tf.distribute.MirroredStrategy(["/cpu:0"]))
    np.testing.assert_allclose(mirrored, fit(tf.distribute.get_strategy()), rtol=0, atol=TOLERANCE)
