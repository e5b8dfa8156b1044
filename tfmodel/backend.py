"""The one place tfmodel imports TensorFlow and Keras.

tensorflow-model-optimization works only with Keras 2, so the whole project uses `tf_keras`
(Keras 2) and tells TensorFlow to do the same before it is first imported. Every other module
does `from tfmodel.backend import keras, tf` and never imports `keras` itself; KerasTuner comes
from `import_keras_tuner()`, which makes it build on the same Keras (or on Keras 3, for a Keras 3
model's search).

TensorFlow is also quietened here, unless `--verbose` or TFMODEL_VERBOSE=1 (tfmodel.quiet): its
C++ logger keeps errors only (TF_CPP_MIN_LOG_LEVEL=2, read once, at load), what it prints while
loading and probing for CUDA is held (tfmodel.quiet), and deprecation notices are dropped.
"""

import os
import sys
from types import ModuleType

from tfmodel.errors import UserError
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

__all__ = ["import_keras_tuner", "keras", "keras_tuner_uses_keras3", "tf"]


hide_deprecation_notices(tf.get_logger())


def import_keras_tuner(keras3: bool | None = None) -> ModuleType:
    """KerasTuner, built on tf_keras, or on Keras 3 with `keras3`; None takes the one this process
    already imported (tf_keras if none).

    keras-tuner 1.4 runs `import keras` once, at its own import, to choose its Keras for the whole
    process: with Keras 3 it rejects every tf_keras model (keras-team/keras-tuner#1039) and with
    tf_keras every Keras 3 one. So a process tunes models of one Keras, which `tfmodel.tune`
    decides from the config's model before KerasTuner is first imported. For tf_keras, `keras`
    names tf_keras while KerasTuner is imported: it has no Keras 3 `version()`, so KerasTuner
    takes its `tf.keras` path (tf_keras under TF_USE_LEGACY_KERAS) and accepts our models.
    """
    loaded = sys.modules.get("keras_tuner")
    if loaded is not None:
        if keras3 is not None and keras3 != keras_tuner_uses_keras3():
            wanted, bound = ("Keras 3", "tf_keras") if keras3 else ("tf_keras", "Keras 3")
            raise UserError(
                f"KerasTuner was already imported for {bound} models in this process, so it "
                f"cannot tune a {wanted} model; tune it in a process of its own"
            )
        return loaded
    if keras3:
        import keras_tuner  # its own `import keras` is Keras 3

        return keras_tuner
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


def keras_tuner_uses_keras3() -> bool:
    """Whether the KerasTuner this process imported builds on Keras 3 (else on tf_keras)."""
    from keras_tuner.src.backend import config

    return bool(config.multi_backend())
