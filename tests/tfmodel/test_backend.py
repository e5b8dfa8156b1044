"""One Keras: KerasTuner, imported through the backend, builds on tf_keras like the project."""

import sys

import pytest

from tfmodel.backend import import_keras_tuner, keras
from tfmodel.errors import UserError


def test_keras_tuner_accepts_the_projects_models_and_keras_is_left_as_it_was():
    before = sys.modules.get("keras")
    keras_tuner = import_keras_tuner()
    from keras_tuner.src.backend import config as tuner_config
    from keras_tuner.src.backend import keras as tuner_keras

    assert not tuner_config.multi_backend()  # KerasTuner took its tf.keras path
    assert tuner_keras.Model is keras.Model  # so its isinstance checks accept tf_keras models
    assert sys.modules.get("keras") is before  # nothing else sees tf_keras as `keras`
    assert import_keras_tuner() is keras_tuner
    assert import_keras_tuner(keras3=False) is keras_tuner


def test_keras_tuner_bound_to_tf_keras_refuses_a_keras3_search_in_the_same_process():
    import_keras_tuner()
    with pytest.raises(UserError, match="cannot tune a Keras 3 model; tune it in a process"):
        import_keras_tuner(keras3=True)
