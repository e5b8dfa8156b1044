"""The project's SGD, Adam and RMSprop written once for both Kerases: each rule's math, and the
Keras-free part of its class (its settings, its slots, its step).

Each rule is the textbook math over an `Ops` namespace: tensor functions (`tf.*` for tf_keras,
`keras.ops.*` for Keras 3) and the three ways to write a variable (`variable.assign*` for
tf_keras, the optimizer's own `self.assign*` for Keras 3). `SGDRule`, `AdamRule` and
`RMSpropRule` hold a class's constructor, slots and `update_step`; each Keras' module (tf_keras.py,
keras3.py) mixes them into a class of its own, whose base provides `_start` (the base class's
constructor), `_step_inputs` (the Ops, the dense gradient and the rate in the variable's dtype)
and `slot`. The rules use Keras' built-ins' conventions, so switching between the two gives the
same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfmodel.backend import tf


@dataclass(frozen=True)
class Ops:
    """The tensor functions and variable writes a rule uses, from one Keras."""

    square: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    rsqrt: Callable[[Any], Any]
    maximum: Callable[[Any, Any], Any]
    power: Callable[[Any, Any], Any]
    cast: Callable[[Any, Any], Any]
    assign: Callable[[Any, Any], Any]
    assign_add: Callable[[Any, Any], Any]
    assign_sub: Callable[[Any, Any], Any]


def dense_gradient(gradient: Any, variable: Any) -> Any:
    """`gradient` as a dense tensor shaped like `variable` (both Kerases here run on TensorFlow).

    Sparse gradients (`tf.IndexedSlices`, e.g. from an Embedding) are scattered into zeros. For
    these rules that gives the same result as Keras' sparse branches, which still decay every
    slot row, at the cost of a dense temporary.
    """
    if isinstance(gradient, tf.IndexedSlices):
        zeros = tf.zeros(variable.shape, gradient.values.dtype)
        return tf.tensor_scatter_nd_add(
            zeros, tf.expand_dims(gradient.indices, -1), gradient.values
        )
    return gradient


def sgd(ops: Ops, variable: Any, g: Any, alpha: Any, momentum: Any, nesterov: bool, v: Any) -> None:
    """Gradient descent, optionally with momentum μ and Nesterov's look-ahead.

    momentum 0:  θ ← θ − α·g                              (`v` unused, may be None)
    momentum μ:  v ← μ·v − α·g;  θ ← θ + v               (slot "velocity", v₀ = 0)
    Nesterov:    v ← μ·v − α·g;  θ ← θ + μ·v − α·g
    """
    if v is None:
        ops.assign_sub(variable, alpha * g)
        return
    ops.assign(v, momentum * v - alpha * g)
    if nesterov:
        ops.assign_add(variable, momentum * v - alpha * g)
    else:
        ops.assign_add(variable, v)


def adam(
    ops: Ops,
    variable: Any,
    g: Any,
    eta: Any,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    t: Any | None,
    slots: tuple[Any, Any, Any | None],
) -> None:
    """Adam (Kingma & Ba, 2015) with slots m (first moment), v (second moment), v_max or None.

    m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
    t given (bias correction, t = step from 1):
                            m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ), θ ← θ − η·m̂/(√v̂ + ε)
    t None:                 θ ← θ − η·m/(√v + ε)
    v_max given (amsgrad):  v is replaced in the step by v_max ← max(v_max, v), the largest second
                            moment so far (Reddi et al., 2018; as Keras' and PyTorch's `amsgrad`)

    Keras' built-in Adam adds ε to √v rather than √v̂ (the same as ε/√(1−β2ᵗ) here); with the
    default ε = 1e-7 the two agree to well under 1e-6. The step is computed with the bias
    corrections folded into scalars, so it costs the built-in's tensor ops, no more.
    """
    m, v, v_max = slots
    # β·m + (1−β)·g written as m + (1−β)·(g − m): one op fewer per tensor, updated in place;
    # 1−β stays a Python number, a constant in the graph rather than an op per step.
    ops.assign_add(m, (g - m) * (1 - beta_1))
    ops.assign_add(v, (ops.square(g) - v) * (1 - beta_2))
    if v_max is not None:
        ops.assign(v_max, ops.maximum(v_max, v))
        v = v_max
    if t is not None:
        # m̂/(√v̂ + ε) = m·√(1−β2ᵗ)/(1−β1ᵗ) / (√v + ε·√(1−β2ᵗ)): the textbook step, with the
        # corrections folded into two scalars instead of two divisions per tensor.
        root = ops.sqrt(1 - ops.power(ops.cast(beta_2, t.dtype), t))
        eta = eta * root / (1 - ops.power(ops.cast(beta_1, t.dtype), t))
        epsilon = epsilon * root
    ops.assign_sub(variable, m * eta / (ops.sqrt(v) + epsilon))


def rmsprop(
    ops: Ops,
    variable: Any,
    g: Any,
    alpha: Any,
    rho: Any,
    momentum: Any,
    epsilon: Any,
    slots: tuple[Any, Any | None, Any | None],
) -> None:
    """RMSprop (Hinton's lecture 6e) in Keras' convention, with ε inside the square root.

    s ← ρ·s + (1−ρ)·g²                          (slot "mean_square")
    centered: ḡ ← ρ·ḡ + (1−ρ)·g, denominator s − ḡ² + ε, else s + ε    (slot "mean_gradient")
    step = α·g/√denominator
    momentum 0: θ ← θ − step;  momentum μ: b ← μ·b + step, θ ← θ − b   (slot "momentum")
    `slots` is (s, ḡ or None when not centered, b or None without momentum).
    """
    s, g_mean, b = slots
    ops.assign(s, rho * s + (1 - rho) * ops.square(g))
    denominator = s + epsilon
    if g_mean is not None:
        ops.assign(g_mean, rho * g_mean + (1 - rho) * g)
        denominator = denominator - ops.square(g_mean)
    step = alpha * g * ops.rsqrt(denominator)  # one op where g / √d takes two
    if b is None:
        ops.assign_sub(variable, step)
        return
    ops.assign(b, momentum * b + step)
    ops.assign_sub(variable, b)


class SGDRule:
    """Gradient descent, optionally with momentum and Nesterov's look-ahead: `sgd`."""

    HYPERPARAMETERS = ("momentum", "nesterov")

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs: Any,
    ) -> None:
        self._start(learning_rate, name, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = momentum, nesterov

    def _slot_names(self) -> list[str]:
        return ["velocity"] if self.momentum > 0 else []

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any = None) -> None:
        ops, g, alpha = self._step_inputs(gradient, variable, learning_rate)
        momentum = ops.cast(self.momentum, variable.dtype)
        sgd(ops, variable, g, alpha, momentum, self.nesterov, self.slot("velocity", variable))


class AdamRule:
    """Adam, optionally without bias correction or with AMSGrad's v_max: `adam`."""

    HYPERPARAMETERS = ("beta_1", "beta_2", "epsilon", "bias_correction", "amsgrad")
    SLOTS = ("m", "v", "v_max")

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
        self._start(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.bias_correction, self.amsgrad = bias_correction, amsgrad

    def _slot_names(self) -> list[str]:
        return list(self.SLOTS if self.amsgrad else self.SLOTS[:2])

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any = None) -> None:
        ops, g, eta = self._step_inputs(gradient, variable, learning_rate)
        # `iterations` counts finished steps; the base class increments it after this update.
        t = ops.cast(self.iterations + 1, variable.dtype) if self.bias_correction else None
        slots = tuple(self.slot(name, variable) for name in self.SLOTS)
        adam(ops, variable, g, eta, self.beta_1, self.beta_2, self.epsilon, t, slots)


class RMSpropRule:
    """RMSprop in Keras' convention, optionally centered and with momentum: `rmsprop`."""

    HYPERPARAMETERS = ("rho", "momentum", "epsilon", "centered")
    SLOTS = ("mean_square", "mean_gradient", "momentum")

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
        self._start(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _slot_names(self) -> list[str]:
        used = (True, self.centered, self.momentum > 0)
        return [name for name, kept in zip(self.SLOTS, used, strict=True) if kept]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any = None) -> None:
        ops, g, alpha = self._step_inputs(gradient, variable, learning_rate)
        rho, momentum, epsilon = (
            ops.cast(value, variable.dtype) for value in (self.rho, self.momentum, self.epsilon)
        )
        slots = tuple(self.slot(name, variable) for name in self.SLOTS)
        rmsprop(ops, variable, g, alpha, rho, momentum, epsilon, slots)
