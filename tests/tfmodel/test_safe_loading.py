"""No load path runs code from a file: Keras models load in safe mode."""

import pytest

from tfmodel.backend import keras
from tfmodel.models import load_model


def test_a_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "model.keras"
    model.save(path)  # the lambda's bytecode is stored pickled: loading it would run it
    with pytest.raises(ValueError, match="safe_mode"):
        load_model(path)
