"""The project's SGD (momentum, Nesterov), Adam (bias correction, AMSGrad), RMSprop, both Kerases.

Top to bottom:
    tf_keras.py    the classes for tf_keras models, `make_optimizer`, CUSTOM_OBJECTS
    keras3.py      the same three for Keras 3 models, `make_keras3_optimizer`, its CUSTOM_OBJECTS
    recipe.py      what both sides share: config keys, slots, the builder from `OptimizerConfig`
    rules.py       each update rule written once, as math over either Keras' ops

`tfmodel.optimizers.X` names the tf_keras side (what training compiles today); Keras 3's classes
are imported from `tfmodel.optimizers.keras3`, which is what imports Keras 3.
"""

from tfmodel.optimizers.tf_keras import (
    CUSTOM_OBJECTS,
    SGD,
    Adam,
    RMSprop,
    make_learning_rate,
    make_optimizer,
)

__all__ = ["CUSTOM_OBJECTS", "SGD", "Adam", "RMSprop", "make_learning_rate", "make_optimizer"]
