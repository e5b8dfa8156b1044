"""Bad models brought to `python -m tfmodel.export`: one line on stderr, exit 2, nothing written.

Each case is a model the door (tfmodel.brought) refuses, made here or in tests/brought_models.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from brought_models import CUSTOM_LAYER, SIZE, forget_custom_layer
from photos import generated_images

from tfmodel.backend import tf
from tfmodel.export import cli
from tfmodel.keras3 import keras


def no_model(folder: Path, request) -> list[str]:
    (folder / "notes.txt").write_text("not a model")
    return [str(folder / "notes.txt")]


def not_a_class_vector(folder: Path, request) -> list[str]:
    inputs = keras.Input((SIZE, SIZE, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save(folder / "segmenter.keras")
    return [str(folder / "segmenter.keras")]


def no_signature(folder: Path, request) -> list[str]:
    module = tf.Module()
    module.weight = tf.Variable(1.0)
    tf.saved_model.save(module, str(folder / "bare"))
    return [str(folder / "bare")]


def custom_layer_without_its_file(folder: Path, request) -> list[str]:
    model_file, _ = request.getfixturevalue("keras3_custom_layer")
    forget_custom_layer()
    return [str(model_file)]


def lambda_without_trust(folder: Path, request) -> list[str]:
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(3)(inputs))
    keras.Model(inputs, outputs).save(folder / "lambda.keras")
    return [str(folder / "lambda.keras")]


def data_with_other_classes(folder: Path, request) -> list[str]:
    data = generated_images(folder / "three.npz", 3, SIZE, classes=3, per_class=2)
    return [str(request.getfixturevalue("plain_module")), "--data", data]


CASES = {
    no_model: r"is no model; give a run folder .*, a \.keras file",
    not_a_class_vector: "not a class vector",
    no_signature: "has no serving_default signature",
    custom_layer_without_its_file: f"uses class '{CUSTOM_LAYER}'.*pass --custom-objects",
    lambda_without_trust: "Lambda layer.*--trust-model-code",
    data_with_other_classes: "has 3 classes, but .* outputs 2",
}


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_a_bad_model_is_one_line_exit_2_and_nothing_written(make, tmp_path, request, capsys):
    argv = make(tmp_path, request)
    base = tmp_path / "export_base"
    assert cli.main([*argv, "--export-base", str(base)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(CASES[make], err), err
    assert not base.exists()
