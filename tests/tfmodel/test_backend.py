"""One Keras: KerasTuner, imported through the backend, builds on tf_keras like the project."""

import sys

from tfmodel.backend import import_keras_tuner, keras


def test_keras_tuner_accepts_the_projects_models_and_keras_is_left_as_it_was():
    before = sys.modules.get("keras")
    keras_tuner = import_keras_tuner()
    from keras_tuner.src.backend import config as tuner_config
    from keras_tuner.src.backend import keras as tuner_keras

    assert not tuner_config.multi_backend()  # KerasTuner took its tf.keras path
    assert tuner_keras.Model is keras.Model  # so its isinstance checks accept tf_keras models
    assert sys.modules.get("keras") is before  # nothing else sees tf_keras as `keras`
    assert import_keras_tuner() is keras_tuner
