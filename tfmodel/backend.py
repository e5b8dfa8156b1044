"""The one place tfmodel imports TensorFlow and Keras.

tensorflow-model-optimization works only with Keras 2, so the whole project uses `tf_keras`
(Keras 2) and tells TensorFlow to do the same before it is first imported. Every other module
does `from tfmodel.backend import keras, tf` and never imports `keras` itself.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]
