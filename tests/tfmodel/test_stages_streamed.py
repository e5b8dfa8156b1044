"""The stages after training read a photo folder a batch at a time: on the tiny photo run
(tests/photo_stages.py), made and read with StreamedSplits' whole-split arrays forbidden, the
warm-up records, the confusion matrix, the model cards and the explanations equal what the test
split decoded whole gives."""

import numpy as np
import pytest
from photo_stages import WARMUP_RECORDS, decoded_test, predicted_classes, warmup_bytes

from tfmodel import runs
from tfmodel.analysis import integrated_gradients
from tfmodel.analysis.confusion import confusion_matrix, format_pairs, load_confusion
from tfmodel.explain import explain_run
from tfmodel.export import cli as export_cli
from tfmodel.export import saved_model


@pytest.fixture(scope="module")
def reference(photo_run):
    return decoded_test(photo_run.run_dir)


def expected_confusion(reference):
    names = reference.splits.class_names
    return confusion_matrix(reference.splits.y_test, predicted_classes(reference), names)


@pytest.mark.slow
def test_training_records_warmup_and_confusion_from_batches(photo_run, reference, tmp_path):
    config = reference.config
    name = saved_model.export_model_name(config)
    version = saved_model.resolve_export_base(config, photo_run.run_dir) / name / "1"
    expected = warmup_bytes(reference, name, tmp_path)
    assert (version / saved_model.WARMUP_FILE).read_bytes() == expected
    confusion = load_confusion(photo_run.run_dir / runs.CONFUSION_FILE)
    np.testing.assert_array_equal(confusion.matrix, expected_confusion(reference).matrix)
    assert confusion.matrix.sum() == len(reference.images) > WARMUP_RECORDS


@pytest.mark.slow
def test_export_takes_warmup_and_card_accuracy_from_batches(
    photo_run, reference, tmp_path, no_whole_splits
):
    base = tmp_path / "models"
    assert export_cli.main([str(photo_run.run_dir), "--export-base", str(base)]) == 0
    name = saved_model.export_model_name(reference.config)
    version = base / name / "1"
    expected = warmup_bytes(reference, name, tmp_path / "reference")
    assert (version / saved_model.WARMUP_FILE).read_bytes() == expected
    accuracy = np.mean(predicted_classes(reference) == reference.splits.y_test)
    card = (version / saved_model.MODEL_CARD_FILE).read_text()
    assert f"top-1 accuracy **{accuracy:.4f}** (n={len(reference.images)})" in card


@pytest.mark.slow
def test_explain_attributes_the_first_images_and_draws_the_confusion(
    photo_run, reference, tmp_path, monkeypatch, no_whole_splits, capsys
):
    attributed = []
    real = integrated_gradients.integrated_gradients

    def spy(model, x, **kwargs):
        attributed.append(x)
        return real(model, x, **kwargs)

    monkeypatch.setattr(integrated_gradients, "integrated_gradients", spy)
    explain_run(photo_run.run_dir, samples=2, steps=4, out_dir=tmp_path)
    np.testing.assert_array_equal(attributed[0], reference.images[:2])
    pairs = format_pairs(expected_confusion(reference).most_confused(5))
    assert pairs in capsys.readouterr().out
    assert (tmp_path / runs.CONFUSION_PLOT).read_bytes()[:4] == b"\x89PNG"
