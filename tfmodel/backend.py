"""The one place tfmodel imports TensorFlow and Keras.

tensorflow-model-optimization works only with Keras 2, so the whole project uses `tf_keras`
(Keras 2) and tells TensorFlow to do the same before it is first imported. Every other module
does `from tfmodel.backend import keras, tf` and never imports `keras` itself; KerasTuner comes
from `import_keras_tuner()`, which makes it build on the same Keras.

TensorFlow is also quietened here, unless `--verbose` or TFMODEL_VERBOSE=1 (tfmodel.quiet): its
C++ logger keeps errors only (TF_CPP_MIN_LOG_LEVEL=2, read once, at load), what it prints while
loading and probing for CUDA is held (tfmodel.quiet), and deprecation notices are dropped.
"""

import os
import sys
from types import ModuleType

from tfmodel.quiet import held_stderr, hide_deprecation_notices, verbose_requested

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if not verbose_requested():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with held_stderr():  # absl's pre-init warning and cudart_stub print before any level is read
    import tensorflow as tf
    import tf_keras as keras

    # The CUDA probe, whose "failed call to cuInit" error on a CPU machine would otherwise come
    # mid-run. Listing devices leaves them configurable (tfmodel.distribute.devices); a GPU is
    # still used.
    tf.config.list_physical_devices()

__all__ = ["import_keras_tuner", "keras", "tf"]


hide_deprecation_notices(tf.get_logger())


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
