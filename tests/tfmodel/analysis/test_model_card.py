"""The model card names the numbers of the files in its run folder."""

import json

import numpy as np
import pytest

from edge.device.runtime import describe_interpreter
from edge.report import VariantResult, build_report, format_table
from tfmodel import runs
from tfmodel.analysis.confusion import confusion_matrix, save_confusion
from tfmodel.analysis.model_card import write_model_card
from tfmodel.config import load_config, save_config

METRICS = {
    "test_accuracy": 0.9361,
    "test_loss": 0.2417,
    "n_train": 1293,
    "n_val": 144,
    "n_test": 360,
    "epochs": 7,
    "strategy": "one_device",
    "replicas": 1,
    "global_batch_size": 32,
    "precision": "float32",
    "parameters": 9610,
    "train_seconds_this_session": 3.21,
}
EDGE_ROWS = [  # as edge.optimize measures them
    VariantResult("keras", None, None, 0.9361, 1.0, None, None, 0.0, 0.812, 0.9),
    VariantResult(
        "int8", "model_int8.tflite", "litert-quantizer", 0.9333, 0.99, 12345, 9876, 0.0, 0.031, 0.04
    ),
    VariantResult(
        "pruned_int8",
        "model_pruned_int8.tflite",
        "tflite-converter",
        0.9278,
        0.98,
        12001,
        4321,
        0.8,
        0.029,
        0.035,
    ),
]


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as training and the edge stage leave it, numbers chosen to be recognisable."""
    config = load_config(None, ["model.hidden_units=[24]", "regularizer.kind=l1"])
    save_config(config, tmp_path / runs.CONFIG_FILE)
    (tmp_path / runs.METRICS_FILE).write_text(json.dumps(METRICS))
    y_true = np.array([0, 1, 1, 2, 2, 2])
    confusion = confusion_matrix(y_true, np.array([0, 2, 1, 1, 1, 2]), ["zero", "one", "two"])
    save_confusion(confusion, tmp_path / runs.CONFUSION_FILE)
    edge = tmp_path / runs.EDGE_DIR
    edge.mkdir()
    report = build_report(EDGE_ROWS, "tensorflow", {})
    (edge / runs.EDGE_REPORT_FILE).write_text(json.dumps(report))
    return tmp_path


def test_card_names_metrics_and_edge_report_numbers(run_dir):
    card = write_model_card(run_dir).read_text()
    assert (run_dir / runs.MODEL_CARD_FILE).read_text() == card
    for number in ("0.9361", "0.2417", "1293", "144", "360", "9,610", "3.21"):
        assert number in card, number
    assert "sklearn:digits" in card and "hidden units [24]" in card and "L1 λ=" in card
    assert "sgd, learning rate 0.1, cosine" in card and "one_device with 1 replica" in card
    assert format_table(EDGE_ROWS) in card  # the edge report's table, as report.md has it
    for row in EDGE_ROWS:
        line = next(line for line in card.splitlines() if line.startswith(f"| {row.variant} |"))
        assert f"{row.test_accuracy:.4f}" in line and f"{row.p50_ms:.3f}" in line
    assert describe_interpreter("tensorflow") in card
    assert "| **two** | 0 | 2 | 1 | 0.333 |" in card  # a confusion row with its accuracy
    assert "two → one (2)" in card
    assert f"--config {run_dir / runs.CONFIG_FILE}" in card


def test_card_says_what_is_missing(run_dir):
    (run_dir / runs.EDGE_DIR / runs.EDGE_REPORT_FILE).unlink()
    (run_dir / runs.CONFUSION_FILE).unlink()
    card = write_model_card(run_dir).read_text()
    assert "Not built yet: `python -m edge.optimize RUN_DIR`" in card
    assert "no confusion matrix" in card and "Not exported" in card


def test_card_lists_the_export_signatures(run_dir):
    from tfmodel.backend import keras
    from tfmodel.export.saved_model import export_for_serving

    config = load_config(run_dir / runs.CONFIG_FILE)
    inputs = keras.Input((8, 8, 1), name="pixels")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    export_for_serving(model, config, np.zeros((1, 8, 8, 1)), run_dir=run_dir)
    card = write_model_card(run_dir).read_text()
    assert "`serving_default` (predict): `pixels` float32[?, 8, 8, 1] →" in card
    assert "`probabilities` float32[?, 3]" in card
    assert "`classify` (classify): `inputs` string[?]" in card
