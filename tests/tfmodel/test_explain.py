"""End to end: a tiny training run leaves its confusion matrix and card; explain draws on it."""

import json

import pytest

from tfmodel import runs
from tfmodel.analysis.confusion import load_confusion
from tfmodel.config import load_config
from tfmodel.explain import ATTRIBUTIONS_PLOT, main
from tfmodel.train import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Two epochs of a 16-unit MLP on the digits, no export: a complete run folder in seconds."""
    out = tmp_path_factory.mktemp("runs")
    overrides = [
        f"output.dir={out}",
        "training.verbose=0",
        "training.epochs=2",
        "model.hidden_units=[16]",
        "export.enabled=false",
    ]
    return train(load_config(None, overrides))


@pytest.mark.slow
def test_training_writes_the_test_confusion_matrix_and_the_card(tiny_run):
    run_dir = tiny_run.run_dir
    confusion = load_confusion(run_dir / runs.CONFUSION_FILE)
    assert confusion.matrix.sum() == tiny_run.n_test
    assert confusion.accuracy == pytest.approx(tiny_run.test_accuracy)
    assert (run_dir / runs.CONFUSION_PLOT).read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 1797
    card = (run_dir / runs.MODEL_CARD_FILE).read_text()
    assert f"{tiny_run.test_accuracy:.4f}" in card and "| **9** |" in card


@pytest.mark.slow
def test_explain_draws_attributions_and_the_confusion(tiny_run, tmp_path, capsys):
    assert (
        main([str(tiny_run.run_dir), "--samples", "5", "--steps", "50", "--output", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "5 test images, 50 steps" in out and "(ok)" in out
    worst = load_confusion(tiny_run.run_dir / runs.CONFUSION_FILE).most_confused(1)[0]
    assert f"{worst[0]:>6} → {worst[1]:<6} {worst[2]:>4}" in out
    for name in (ATTRIBUTIONS_PLOT, runs.CONFUSION_PLOT):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_explain_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "not a finished run folder" in capsys.readouterr().err
    assert main([str(tmp_path), "--samples", "0"]) == 2
    assert "--samples (0) and --steps (64) must be at least 1" in capsys.readouterr().err
