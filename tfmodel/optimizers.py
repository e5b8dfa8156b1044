"""The project's own SGD, Adam and RMSprop, each update rule written out as in the textbook.

Each class subclasses tf_keras' optimizer base class, which already handles the learning rate (a
number or a `LearningRateSchedule`), gradient clipping, `tf.distribute` and checkpoint tracking.
A class adds only its per-variable state ("slots") and its rule in `update_step`. The rules use
the same conventions as Keras' built-ins, so switching between the two gives the same numbers.
`make_optimizer` builds one from `OptimizerConfig`.
"""

from __future__ import annotations

from typing import Any

from tfmodel.backend import keras, tf
from tfmodel.config import OptimizerConfig
from tfmodel.errors import UserError


def _dense(gradient: Any, variable: tf.Variable) -> tf.Tensor:
    """`gradient` as a dense tensor shaped like `variable`.

    Sparse gradients (`tf.IndexedSlices`, e.g. from an Embedding) are scattered into zeros. For
    these rules that gives the same result as Keras' sparse branches, which still decay every
    slot row, at the cost of a dense temporary.
    """
    if isinstance(gradient, tf.IndexedSlices):
        zeros = tf.zeros_like(variable)
        return tf.tensor_scatter_nd_add(
            zeros, tf.expand_dims(gradient.indices, -1), gradient.values
        )
    return gradient


class _SlotOptimizer(keras.optimizers.Optimizer):
    """What the three rules share: named per-variable slots made in `build`, and their lookup."""

    def __init__(self, name: str, weight_decay: float | None = None, **kwargs: Any) -> None:
        # The base class defaults to weight_decay=0, which still runs θ ← θ − 0·α·θ on every
        # variable every step (two full-size multiplies and a write); Keras' built-ins pass None.
        super().__init__(name=name, weight_decay=weight_decay, **kwargs)

    def _slot_names(self) -> list[str]:
        """Names of the slots each model variable gets, e.g. `["m", "v"]` for Adam."""
        raise NotImplementedError

    def build(self, var_list: list[tf.Variable]) -> None:
        """Create a zero slot shaped like each variable, for every name in `_slot_names()`."""
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._slot_lists = {
            name: [self.add_variable_from_reference(var, name) for var in var_list]
            for name in self._slot_names()
        }

    def slot(self, name: str, variable: tf.Variable) -> tf.Variable:
        """The slot `name` (e.g. "m") that belongs to the model variable `variable`."""
        return self._slot_lists[name][self._index_dict[self._var_key(variable)]]


@keras.saving.register_keras_serializable(package="tfmodel")
class SGD(_SlotOptimizer):
    """Gradient descent, optionally with momentum μ and Nesterov's look-ahead.

    momentum 0:  θ ← θ − α·g
    momentum μ:  v ← μ·v − α·g;  θ ← θ + v           (slot "velocity", v₀ = 0)
    Nesterov:    v ← μ·v − α·g;  θ ← θ + μ·v − α·g
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD momentum must be in [0, 1], got {momentum}")
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov

    def _slot_names(self) -> list[str]:
        return ["velocity"] if self.momentum > 0 else []

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        g = _dense(gradient, variable)
        alpha = tf.cast(self.learning_rate, variable.dtype)
        if self.momentum == 0:
            variable.assign_sub(alpha * g)
            return
        mu = tf.cast(self.momentum, variable.dtype)
        v = self.slot("velocity", variable)
        v.assign(mu * v - alpha * g)
        if self.nesterov:
            variable.assign_add(mu * v - alpha * g)
        else:
            variable.assign_add(v)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }


@keras.saving.register_keras_serializable(package="tfmodel")
class Adam(_SlotOptimizer):
    """Adam (Kingma & Ba, 2015) with slots "m" (first moment) and "v" (second moment).

    m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
    bias_correction=True:   m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ), θ ← θ − η·m̂/(√v̂ + ε)   (t = step, from 1)
    bias_correction=False:  θ ← θ − η·m/(√v + ε)
    amsgrad=True:           v is replaced in the step by v_max ← max(v_max, v), the largest second
                            moment so far (Reddi et al., 2018; as Keras' and PyTorch's `amsgrad`)

    Keras' built-in Adam adds ε to √v rather than √v̂ (the same as ε/√(1−β2ᵗ) here); with the
    default ε = 1e-7 the two agree to well under 1e-6. The step is computed with the bias
    corrections folded into scalars, so it costs the built-in's tensor ops, no more.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        bias_correction: bool = True,
        amsgrad: bool = False,
        name: str = "Adam",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.bias_correction = bias_correction
        self.amsgrad = amsgrad

    def _slot_names(self) -> list[str]:
        return ["m", "v", "v_max"] if self.amsgrad else ["m", "v"]

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        g = _dense(gradient, variable)
        dtype = variable.dtype
        eta = tf.cast(self.learning_rate, dtype)
        epsilon = self.epsilon
        m = self.slot("m", variable)
        v = self.slot("v", variable)
        # β·m + (1−β)·g written as m + (1−β)·(g − m): one op fewer per tensor, updated in place;
        # 1−β stays a Python number, a constant in the graph rather than an op per step.
        m.assign_add((g - m) * (1 - self.beta_1))
        v.assign_add((tf.square(g) - v) * (1 - self.beta_2))
        if self.amsgrad:
            v = self.slot("v_max", variable)
            v.assign(tf.maximum(v, self.slot("v", variable)))
        if self.bias_correction:
            # m̂/(√v̂ + ε) = m·√(1−β2ᵗ)/(1−β1ᵗ) / (√v + ε·√(1−β2ᵗ)): the textbook step, with the
            # corrections folded into two scalars instead of two divisions per tensor.
            # `iterations` counts finished steps; the base class increments it after this update.
            t = tf.cast(self.iterations + 1, dtype)
            root = tf.sqrt(1 - tf.pow(tf.cast(self.beta_2, dtype), t))
            eta = eta * root / (1 - tf.pow(tf.cast(self.beta_1, dtype), t))
            epsilon = epsilon * root
        variable.assign_sub(m * eta / (tf.sqrt(v) + epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "bias_correction": self.bias_correction,
            "amsgrad": self.amsgrad,
        }


@keras.saving.register_keras_serializable(package="tfmodel")
class RMSprop(_SlotOptimizer):
    """RMSprop (Hinton's lecture 6e) in Keras' convention, with ε inside the square root.

    s ← ρ·s + (1−ρ)·g²                          (slot "mean_square")
    centered: ḡ ← ρ·ḡ + (1−ρ)·g, denominator s − ḡ² + ε, else s + ε    (slot "mean_gradient")
    step = α·g/√denominator
    momentum 0: θ ← θ − step;  momentum μ: b ← μ·b + step, θ ← θ − b   (slot "momentum")
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "RMSprop",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _slot_names(self) -> list[str]:
        names = ["mean_square"]
        if self.centered:
            names.append("mean_gradient")
        if self.momentum > 0:
            names.append("momentum")
        return names

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        g = _dense(gradient, variable)
        dtype = variable.dtype
        alpha = tf.cast(self.learning_rate, dtype)
        rho = tf.cast(self.rho, dtype)
        s = self.slot("mean_square", variable)
        s.assign(rho * s + (1 - rho) * tf.square(g))
        denominator = s + tf.cast(self.epsilon, dtype)
        if self.centered:
            g_mean = self.slot("mean_gradient", variable)
            g_mean.assign(rho * g_mean + (1 - rho) * g)
            denominator -= tf.square(g_mean)
        step = alpha * g * tf.math.rsqrt(denominator)  # one op where g / √d takes two
        if self.momentum == 0:
            variable.assign_sub(step)
            return
        b = self.slot("momentum", variable)
        b.assign(tf.cast(self.momentum, dtype) * b + step)
        variable.assign_sub(b)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


# Registered names ("tfmodel>SGD", ...) → classes, for `custom_objects=` where a loader needs them.
CUSTOM_OBJECTS: dict[str, type] = {
    keras.saving.get_registered_name(cls): cls for cls in (SGD, Adam, RMSprop)
}


def make_learning_rate(
    cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float = 1.0
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate `cfg.learning_rate · learning_rate_scale`, decayed as `cfg.schedule` says.

    `cosine` decays to 0 over all `steps_per_epoch · epochs` steps; `exponential` multiplies the
    rate by `cfg.decay_rate` every epoch (smoothly, step by step); `constant` keeps it.
    """
    for key, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs)):
        if value < 1:
            raise UserError(f"{key} is {value}; it must be at least 1 (is the training set empty?)")
    rate = cfg.learning_rate * learning_rate_scale
    if rate <= 0:
        raise UserError(
            f"optimizer.learning_rate × scale is {rate}; set optimizer.learning_rate to a positive "
            "number such as 0.01"
        )
    schedules = keras.optimizers.schedules
    if cfg.schedule == "constant":
        return rate
    if cfg.schedule == "cosine":
        return schedules.CosineDecay(rate, decay_steps=steps_per_epoch * epochs)
    if cfg.schedule == "exponential":
        if not 0 < cfg.decay_rate <= 1:
            raise UserError(
                f"optimizer.decay_rate is {cfg.decay_rate}; the exponential schedule needs a "
                "factor per epoch in (0, 1], such as 0.5"
            )
        return schedules.ExponentialDecay(rate, steps_per_epoch, cfg.decay_rate)
    raise UserError(
        f"optimizer.schedule {cfg.schedule!r} is unknown: use constant, cosine or exponential"
    )


def make_optimizer(
    cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float = 1.0
) -> keras.optimizers.Optimizer:
    """The optimizer `cfg.name` with its hyperparameters and learning-rate schedule from `cfg`.

    `momentum` and `nesterov` are SGD's; Adam takes `beta_1`, `beta_2`, `epsilon`,
    `bias_correction` and `amsgrad`; RMSprop takes `rho` and `epsilon` (without momentum, as
    Keras' default).
    Create it inside the distribution strategy's scope so its slots are mirrored too.
    """
    rate = make_learning_rate(cfg, steps_per_epoch, epochs, learning_rate_scale)
    if cfg.name == "sgd":
        if not 0 <= cfg.momentum <= 1:
            raise UserError(f"optimizer.momentum is {cfg.momentum}; set it in [0, 1], e.g. 0.9")
        return SGD(rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return Adam(
            rate,
            beta_1=cfg.beta_1,
            beta_2=cfg.beta_2,
            epsilon=cfg.epsilon,
            bias_correction=cfg.bias_correction,
            amsgrad=cfg.amsgrad,
        )
    if cfg.name == "rmsprop":
        return RMSprop(rate, rho=cfg.rho, epsilon=cfg.epsilon)
    raise UserError(f"optimizer.name {cfg.name!r} is unknown: use sgd, adam or rmsprop")
