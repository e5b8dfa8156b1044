"""The door (`tfmodel.brought`): each kind of MODEL becomes one description, a bad one UserError.

The models are made in the test (tests/brought_models.py). A description's `predict` is compared
with the Keras that wrote the file, loaded here on its own.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from brought_models import CUSTOM_LAYER, SIZE, forget_custom_layer
from flag_cases import make_tiny_run
from photos import generated_images

from tfmodel.backend import tf
from tfmodel.brought import ModelOptions, load_model_data, resolve_model
from tfmodel.brought.description import KERAS3, RUN, SAVED_MODEL, TF_KERAS
from tfmodel.errors import UserError
from tfmodel.keras3 import keras


def pixels(count: int = 6) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (count, SIZE, SIZE, 3)).astype(np.float32)


def test_a_keras3_file_is_loaded_by_keras3_and_described(keras3_tiny):
    path = keras3_tiny.keras_file
    brought = resolve_model(path)
    reference = keras.models.load_model(path)
    assert (brought.kind, brought.keras_version) == (KERAS3, keras.version())
    assert brought.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert brought.parameters == reference.count_params()
    assert (brought.input_shape, brought.input_dtype, brought.num_classes) == (
        (SIZE, SIZE, 3),
        "float32",
        2,
    )
    assert brought.input_name == reference.inputs[0].name
    assert not brought.gives_logits  # its last layer's activation is softmax
    assert (brought.pruning, brought.qat, brought.pruning_why_not) == ("own", False, "")
    assert "tf_keras" in brought.qat_why_not
    assert brought.recipe.shape == (SIZE, SIZE, 3)
    assert brought.name == "tiny" and brought.labels == ("0", "1")
    x = pixels()
    np.testing.assert_allclose(brought.predict(x), reference.predict(x, verbose=0), atol=1e-5)


def test_its_keras3_export_is_used_through_serving_default(keras3_tiny):
    from_file = resolve_model(keras3_tiny.keras_file)
    brought = resolve_model(keras3_tiny.export_dir)
    assert (brought.kind, brought.keras_version, brought.pruning) == (SAVED_MODEL, None, None)
    assert brought.pruning_why_not and brought.qat_why_not
    signature = tf.saved_model.load(str(keras3_tiny.export_dir)).signatures["serving_default"]
    assert [brought.input_name] == list(signature.structured_input_signature[1])
    assert brought.parameters == from_file.parameters
    assert not brought.gives_logits  # sniffed: rows of probabilities
    x = pixels()
    np.testing.assert_allclose(brought.predict(x), from_file.predict(x), atol=1e-5)


def test_a_custom_layer_needs_the_users_file_and_logits_get_softmax(keras3_custom_layer):
    path, layers_file = keras3_custom_layer
    forget_custom_layer()
    with pytest.raises(UserError, match=f"{CUSTOM_LAYER}.*--custom-objects"):
        resolve_model(path)
    brought = resolve_model(path, ModelOptions(custom_objects=layers_file))
    assert brought.gives_logits and brought.kind == KERAS3
    probabilities = brought.predict(pixels())
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    logits = brought.model.predict(pixels(), verbose=0)
    np.testing.assert_allclose(probabilities, tf.nn.softmax(logits).numpy(), atol=1e-5)
    forced = resolve_model(path, ModelOptions(custom_objects=layers_file, outputs="probabilities"))
    assert not forced.gives_logits


def test_a_lambda_layer_is_refused_unless_its_code_is_trusted(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(3)(inputs))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UserError, match="Lambda.*--trust-model-code"):
        resolve_model(path)
    brought = resolve_model(path, ModelOptions(trust_code=True))
    assert brought.recipe is None and brought.num_classes == 3


def test_a_tf_keras_file_keeps_tfmot_pruning_and_qat(tf_keras_file):
    brought = resolve_model(tf_keras_file)
    assert (brought.kind, brought.pruning, brought.qat) == (TF_KERAS, "tfmot", True)
    assert brought.keras_version.startswith("2.") and brought.gives_logits
    assert brought.input_name == "pixels"


def test_a_plain_module_is_sniffed_for_probabilities_unless_told(plain_module, tmp_path):
    brought = resolve_model(plain_module)
    assert (brought.kind, brought.input_name, brought.parameters) == (SAVED_MODEL, "image", 4)
    assert not brought.gives_logits
    bright, dark = np.full((1, SIZE, SIZE, 3), 220.0), np.full((1, SIZE, SIZE, 3), 30.0)
    assert brought.predict(np.concatenate([bright, dark])).argmax(axis=1).tolist() == [0, 1]
    told = resolve_model(plain_module, ModelOptions(outputs="logits"))
    assert told.gives_logits
    labels = tmp_path / "labels.txt"
    labels.write_text("bright\ndark\n")
    assert resolve_model(plain_module, ModelOptions(labels=labels)).labels == ("bright", "dark")
    labels.write_text("one\ntwo\nthree\n")
    with pytest.raises(UserError, match="names 3 classes.*outputs 2"):
        resolve_model(plain_module, ModelOptions(labels=labels))


def test_a_run_folder_is_a_tf_keras_model_with_its_config(tmp_path):
    run = make_tiny_run(tmp_path)
    brought = resolve_model(run, overrides=["export.model_name=renamed"])
    assert (brought.kind, brought.pruning, brought.gives_logits) == (RUN, "tfmot", True)
    assert brought.name == "renamed" and brought.data == "sklearn:digits"
    assert brought.input_shape == (8, 8, 1) and brought.recipe is None


@pytest.mark.parametrize("what", ["text file", "empty folder", "missing"])
def test_a_path_that_is_no_model_is_refused(what, tmp_path):
    path = tmp_path / "thing"
    if what == "text file":
        path.write_text("hello")
    elif what == "empty folder":
        path.mkdir()
    with pytest.raises(UserError, match="is no model; give a run folder"):
        resolve_model(path)


def test_a_model_whose_output_is_not_a_class_vector_is_refused(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    path = tmp_path / "segmenter.keras"
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save(path)
    with pytest.raises(UserError, match=r"outputs \(None, 64, 64, 2\), not a class vector"):
        resolve_model(path)


def test_a_saved_model_without_a_signature_is_refused(tmp_path):
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "bare"))
    with pytest.raises(UserError, match="has no serving_default signature"):
        resolve_model(tmp_path / "bare")


def test_data_with_other_classes_than_the_model_outputs_is_refused(plain_module, tmp_path):
    three = generated_images(tmp_path / "three.npz", 3, SIZE, classes=3, per_class=2)
    brought = resolve_model(plain_module, ModelOptions(data=three))
    with pytest.raises(UserError, match="has 3 classes, but .* outputs 2"):
        load_model_data(brought)
    two = generated_images(tmp_path / "two.npz", 3, SIZE, classes=2, per_class=2)
    labelled, splits = load_model_data(resolve_model(plain_module, ModelOptions(data=two)))
    assert labelled.labels == tuple(splits.class_names) and splits.input_shape == (SIZE, SIZE, 3)


def test_a_tf_keras_saved_model_is_used_through_its_signature(tf_keras_file, tmp_path):
    from tfmodel.backend import keras as tf_keras

    model = tf_keras.models.load_model(tf_keras_file)
    tf.saved_model.save(model, str(tmp_path / "saved"))
    brought = resolve_model(tmp_path / "saved")
    assert (brought.kind, brought.input_name, brought.gives_logits) == (SAVED_MODEL, "pixels", True)
    x = pixels()
    expected = tf.nn.softmax(model.predict(x, verbose=0)).numpy()
    np.testing.assert_allclose(brought.predict(x), expected, atol=1e-5)
