"""The project's SGD, Adam and RMSprop for tf_keras models: rules.py's rules in tf_keras classes.

Each class subclasses tf_keras' optimizer base class, which already handles the learning rate (a
number or a `LearningRateSchedule`), gradient clipping, `tf.distribute` and checkpoint tracking.
`_SlotOptimizer` adds the per-variable state ("slots") and gives the rules `tf` ops.
`make_optimizer` builds one from `OptimizerConfig` (recipe.py, shared with Keras 3).
"""

from __future__ import annotations

from typing import Any

from tfmodel.backend import keras, tf
from tfmodel.config import OptimizerConfig
from tfmodel.optimizers import recipe, rules

# The rules' tensor functions and variable writes, for tf_keras.
OPS = rules.Ops(
    square=tf.square,
    sqrt=tf.sqrt,
    rsqrt=tf.math.rsqrt,
    maximum=tf.maximum,
    power=tf.pow,
    cast=tf.cast,
    assign=lambda variable, value: variable.assign(value),
    assign_add=lambda variable, value: variable.assign_add(value),
    assign_sub=lambda variable, value: variable.assign_sub(value),
)


class _SlotOptimizer(keras.optimizers.Optimizer):
    """What a rule class needs from tf_keras: the base class started, named per-variable slots
    made in `build` and their lookup, the step's inputs, and the config."""

    HYPERPARAMETERS: tuple[str, ...] = ()  # set by the rule class

    def _start(
        self, learning_rate: Any, name: str, weight_decay: float | None = None, **kwargs: Any
    ) -> None:
        # The base class defaults to weight_decay=0, which still runs θ ← θ − 0·α·θ on every
        # variable every step (two full-size multiplies and a write); Keras' built-ins pass None.
        keras.optimizers.Optimizer.__init__(self, name=name, weight_decay=weight_decay, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)

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

    def slot(self, name: str, variable: tf.Variable) -> tf.Variable | None:
        """The slot `name` (e.g. "m") of the model variable `variable`; None if it has none."""
        if name not in self._slot_lists:
            return None
        return self._slot_lists[name][self._index_dict[self._var_key(variable)]]

    def _step_inputs(self, gradient: Any, variable: tf.Variable, _: None) -> tuple[Any, ...]:
        """(Ops, the gradient dense, the current learning rate), in the variable's dtype."""
        g = rules.dense_gradient(gradient, variable)
        return OPS, g, tf.cast(self.learning_rate, variable.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            **{key: getattr(self, key) for key in self.HYPERPARAMETERS},
        }


@keras.saving.register_keras_serializable(package="tfmodel")
class SGD(rules.SGDRule, _SlotOptimizer):
    """Gradient descent, optionally with momentum and Nesterov's look-ahead: `rules.sgd`."""


@keras.saving.register_keras_serializable(package="tfmodel")
class Adam(rules.AdamRule, _SlotOptimizer):
    """Adam, optionally without bias correction or with AMSGrad's v_max: `rules.adam`."""


@keras.saving.register_keras_serializable(package="tfmodel")
class RMSprop(rules.RMSpropRule, _SlotOptimizer):
    """RMSprop in Keras' convention, optionally centered and with momentum: `rules.rmsprop`."""


# Registered names ("tfmodel>SGD", ...) → classes, for `custom_objects=` where a loader needs them.
CUSTOM_OBJECTS: dict[str, type] = {
    keras.saving.get_registered_name(cls): cls for cls in (SGD, Adam, RMSprop)
}
# What recipe.build_optimizer builds tf_keras optimizers from.
FAMILY = recipe.Family(SGD, Adam, RMSprop, keras.optimizers.schedules)


def make_learning_rate(
    cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float = 1.0
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """`recipe.make_learning_rate` with tf_keras' schedules."""
    return recipe.make_learning_rate(cfg, steps_per_epoch, epochs, learning_rate_scale, FAMILY)


def make_optimizer(
    cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float = 1.0
) -> keras.optimizers.Optimizer:
    """The project's tf_keras optimizer `cfg` names (`recipe.build_optimizer`). Create it inside
    the distribution strategy's scope so its slots are mirrored too."""
    return recipe.build_optimizer(cfg, steps_per_epoch, epochs, learning_rate_scale, FAMILY)
