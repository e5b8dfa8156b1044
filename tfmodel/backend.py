"""The one place tfmodel imports TensorFlow and Keras.

tensorflow-model-optimization works only with Keras 2, so the whole project uses `tf_keras`
(Keras 2) and tells TensorFlow to do the same before it is first imported. Every other module
does `from tfmodel.backend import keras, tf` and never imports `keras` itself; KerasTuner comes
from `import_keras_tuner()`, which makes it build on the same Keras.
"""

import os
import sys
from types import ModuleType

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["import_keras_tuner", "keras", "tf"]


def import_keras_tuner() -> ModuleType:
    """KerasTuner, bound to tf_keras instead of the Keras 3 it would import.

    keras-tuner 1.4 runs `import keras` once, at its own import, to choose its backend: with
    Keras 3 it rejects every tf_keras model (keras-team/keras-tuner#1039). While it is imported,
    `keras` names tf_keras, which has no Keras 3 `version()`, so KerasTuner takes its `tf.keras`
    path — tf_keras under TF_USE_LEGACY_KERAS — and its isinstance checks accept our models.
    """
    if "keras_tuner" in sys.modules:
        return sys.modules["keras_tuner"]
    previous = sys.modules.get("keras")
    sys.modules["keras"] = keras
    try:
        import keras_tuner
    finally:
        if previous is None:
            del sys.modules["keras"]
        else:
            sys.modules["keras"] = previous
    return keras_tuner
