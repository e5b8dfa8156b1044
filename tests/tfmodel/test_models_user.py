"""The user's own model: from a file, a module or a .keras, checked before training starts."""

import textwrap

import numpy as np
import pytest

from tfmodel import train
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.errors import UserError
from tfmodel.models import build_model

BUILDERS = """
from tfmodel.backend import keras, tf


def build(input_shape, num_classes, activation=None, extra=0):
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes + extra, activation=activation, name="head")(x)
    return keras.Model(inputs, outputs)


def softmax(input_shape, num_classes):
    return build(input_shape, num_classes, activation="softmax")


def one_too_many(input_shape, num_classes):
    return build(input_shape, num_classes, extra=1)


def keras3_softmax(input_shape, num_classes):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


class Determinant(keras.layers.Layer):
    def call(self, x):
        return tf.linalg.det(tf.reshape(x[:, :2, :2, 0], (-1, 2, 2)))[:, None]


def determinant(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(Determinant()(inputs)))


def nothing(input_shape, num_classes):
    return None


def broken(input_shape, num_classes):
    raise RuntimeError("width must be even")
"""
SHAPE = (8, 8, 3)


@pytest.fixture(scope="module")
def builders(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_models.py"
    path.write_text(textwrap.dedent(BUILDERS))
    return path


def build(reg=None, convertible=False, **model):
    reg = reg or RegularizerConfig("none")
    return build_model(ModelConfig(**model), reg, SHAPE, 3, 255.0, convertible=convertible)


def test_a_function_in_a_file_is_called_with_the_input_shape_and_classes(builders):
    model = build(RegularizerConfig("l2", l2=0.01), builder=f"{builders}:build")
    assert model.input_shape == (None, *SHAPE) and model.output_shape == (None, 3)
    # The regularizer reached its kernels, though the file set none.
    assert model.get_layer("conv").kernel_regularizer.l2 == pytest.approx(0.01)
    kernel = model.get_layer("head").kernel.numpy()
    assert float(model.get_layer("head").losses[0]) == pytest.approx(0.01 * np.square(kernel).sum())


def test_a_function_in_a_module_on_the_path(builders, monkeypatch):
    monkeypatch.syspath_prepend(str(builders.parent))
    model = build(builder="my_models:build")
    assert model.get_layer("conv").filters == 4


def test_a_saved_keras_model_is_loaded_with_its_weights(builders, tmp_path):
    saved = build(builder=f"{builders}:build")
    saved.save(tmp_path / "mine.keras")
    loaded = build(from_keras=str(tmp_path / "mine.keras"))
    for ours, theirs in zip(loaded.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "function, message",
    [
        ("keras3_softmax", r"ends in a softmax, but training takes logits"),
        ("softmax", r"ends in a softmax, but training takes logits.*no activation"),
        ("one_too_many", r"outputs \(None, 4\), but the data has 3 classes.*Dense\(3\)"),
        ("nothing", r"gave a NoneType, not a keras.Model"),
        ("broken", r"failed when called as broken\(\(8, 8, 3\), 3\): RuntimeError: width must"),
        ("missing", r"has no function 'missing'; define def missing\(input_shape, num_classes\)"),
    ],
)
def test_a_model_training_cannot_take_is_one_clear_error(builders, function, message):
    with pytest.raises(UserError, match=message):
        build(builder=f"{builders}:{function}")


def test_an_op_tflite_lacks_is_named_when_the_edge_stage_will_run(builders):
    with pytest.raises(UserError, match=r"uses TensorFlow op\(s\) MatrixDeterminant"):
        build(builder=f"{builders}:determinant", convertible=True)
    assert build(builder=f"{builders}:determinant").output_shape == (None, 3)


def test_the_command_line_stops_before_training_with_one_line(builders, tmp_path, capsys):
    code = train.main(
        [
            "--set",
            f"model.builder={builders}:softmax",
            "--output",
            str(tmp_path),
            "--set",
            "data.source=sklearn:digits",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in a softmax" in err[0]
    assert not list(tmp_path.iterdir())  # no run folder for a rejected model
