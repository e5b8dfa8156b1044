"""The project's SGD, Adam and RMSprop for Keras 3 models: rules.py's rules in Keras 3 classes.

Each class subclasses Keras 3's `keras.optimizers.Optimizer`, which handles the learning rate (a
number or a schedule), clipping, loss scaling and `tf.distribute`, and saves the slots in a `.keras`
file. `_SlotOptimizer` makes the slots with `add_variable_from_reference` in `build` and gives the
rules `keras.ops` and the optimizer's own `assign*`. The classes are registered as `tfmodel>SGD`, …
in Keras 3's registry, so a `.keras` file compiled with one loads without custom objects.
"""

from __future__ import annotations

from typing import Any

from tfmodel.config import OptimizerConfig
from tfmodel.keras3 import keras
from tfmodel.optimizers import recipe, rules

ops = keras.ops


class _SlotOptimizer(keras.optimizers.Optimizer):
    """What a rule class needs from Keras 3: the base class started, named per-variable slots
    made in `build` and their lookup, the step's inputs, and the config."""

    HYPERPARAMETERS: tuple[str, ...] = ()  # set by the rule class

    def _start(self, learning_rate: Any, name: str, **kwargs: Any) -> None:
        keras.optimizers.Optimizer.__init__(self, learning_rate=learning_rate, name=name, **kwargs)

    def _slot_names(self) -> list[str]:
        """Names of the slots each model variable gets, e.g. `["m", "v"]` for Adam."""
        raise NotImplementedError

    def build(self, variables: list[keras.Variable]) -> None:
        """Create a zero slot shaped like each variable, for every name in `_slot_names()`."""
        if self.built:
            return
        super().build(variables)
        self._slot_lists = {
            name: [self.add_variable_from_reference(variable, name) for variable in variables]
            for name in self._slot_names()
        }

    def slot(self, name: str, variable: keras.Variable) -> keras.Variable | None:
        """The slot `name` (e.g. "m") of the model variable `variable`; None if it has none."""
        if name not in self._slot_lists:
            return None
        return self._slot_lists[name][self._get_variable_index(variable)]

    def _step_inputs(
        self, gradient: Any, variable: keras.Variable, learning_rate: Any
    ) -> tuple[Any, ...]:
        """(Ops bound to this optimizer, the gradient dense, the learning rate Keras 3 passes),
        in the variable's dtype."""
        bound = rules.Ops(
            square=ops.square,
            sqrt=ops.sqrt,
            rsqrt=ops.rsqrt,
            maximum=ops.maximum,
            power=ops.power,
            cast=ops.cast,
            assign=self.assign,
            assign_add=self.assign_add,
            assign_sub=self.assign_sub,
        )
        g = ops.cast(rules.dense_gradient(gradient, variable), variable.dtype)
        return bound, g, ops.cast(learning_rate, variable.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **{key: getattr(self, key) for key in self.HYPERPARAMETERS}}


@keras.saving.register_keras_serializable(package="tfmodel")
class SGD(rules.SGDRule, _SlotOptimizer):
    """Gradient descent, optionally with momentum and Nesterov's look-ahead: `rules.sgd`."""


@keras.saving.register_keras_serializable(package="tfmodel")
class Adam(rules.AdamRule, _SlotOptimizer):
    """Adam, optionally without bias correction or with AMSGrad's v_max: `rules.adam`."""


@keras.saving.register_keras_serializable(package="tfmodel")
class RMSprop(rules.RMSpropRule, _SlotOptimizer):
    """RMSprop in Keras' convention, optionally centered and with momentum: `rules.rmsprop`."""


# Keras 3's registered names ("tfmodel>SGD", ...) → classes, for `custom_objects=`.
CUSTOM_OBJECTS: dict[str, type] = {
    keras.saving.get_registered_name(cls): cls for cls in (SGD, Adam, RMSprop)
}
# What recipe.build_optimizer builds Keras 3 optimizers from.
FAMILY = recipe.Family(SGD, Adam, RMSprop, keras.optimizers.schedules)


def make_keras3_optimizer(
    cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float = 1.0
) -> keras.optimizers.Optimizer:
    """The project's Keras 3 optimizer `cfg` names, built by the same recipe as tf_keras'
    (`recipe.build_optimizer`). Create it inside the strategy's scope, as for tf_keras."""
    return recipe.build_optimizer(cfg, steps_per_epoch, epochs, learning_rate_scale, FAMILY)
