"""The one recipe that builds the optimizer `OptimizerConfig` names, for either Keras (given that
Keras' `Family` of classes and schedules): training compiles with it, and so does edge fine-tuning.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tfmodel.config import OptimizerConfig
from tfmodel.errors import UserError


class Family(NamedTuple):
    """One Keras' optimizer classes and its `keras.optimizers.schedules` module."""

    sgd: type
    adam: type
    rmsprop: type
    schedules: Any


def make_learning_rate(
    cfg: OptimizerConfig,
    steps_per_epoch: int,
    epochs: int,
    learning_rate_scale: float,
    family: Family,
) -> Any:
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
    schedules = family.schedules
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


def build_optimizer(
    cfg: OptimizerConfig,
    steps_per_epoch: int,
    epochs: int,
    learning_rate_scale: float,
    family: Family,
) -> Any:
    """The optimizer `cfg.name` of `family` with its hyperparameters and learning-rate schedule.

    `momentum` and `nesterov` are SGD's; Adam takes `beta_1`, `beta_2`, `epsilon`,
    `bias_correction` and `amsgrad`; RMSprop takes `rho` and `epsilon` (without momentum, as
    Keras' default).
    """
    rate = make_learning_rate(cfg, steps_per_epoch, epochs, learning_rate_scale, family)
    if cfg.name == "sgd":
        if not 0 <= cfg.momentum <= 1:
            raise UserError(f"optimizer.momentum is {cfg.momentum}; set it in [0, 1], e.g. 0.9")
        return family.sgd(rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return family.adam(
            rate,
            beta_1=cfg.beta_1,
            beta_2=cfg.beta_2,
            epsilon=cfg.epsilon,
            bias_correction=cfg.bias_correction,
            amsgrad=cfg.amsgrad,
        )
    if cfg.name == "rmsprop":
        return family.rmsprop(rate, rho=cfg.rho, epsilon=cfg.epsilon)
    raise UserError(f"optimizer.name {cfg.name!r} is unknown: use sgd, adam or rmsprop")
