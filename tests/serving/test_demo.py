"""`python -m serving.demo RUN_DIR`: serve a run's export and predict test images over gRPC."""

import numpy as np
import pytest
from photo_stages import decoded_test, predicted_classes

from serving import demo
from tfmodel.backend import keras
from tfmodel.config import Config, save_config
from tfmodel.data import load_splits
from tfmodel.export.saved_model import export_for_serving
from tfmodel.models import build_model


def test_demo_prints_predictions_against_labels(tmp_path, capsys):
    config = Config()
    config.model.hidden_units = [8]
    splits = load_splits(config.data, config.training.seed)
    keras.utils.set_random_seed(0)
    model = build_model(config.model, config.regularizer, splits.input_shape, 10, splits.pixel_max)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_config(config, run_dir / "config.yaml")
    assert demo.main([str(run_dir)]) == 2
    assert "python -m tfmodel.export" in capsys.readouterr().err

    export_for_serving(model, config, splits.x_test[:2], run_dir=run_dir)
    accuracy = demo.run_demo(run_dir, count=5)
    rows = capsys.readouterr().out.splitlines()
    predicted = model.predict(splits.x_test[:5], verbose=0).argmax(-1)
    table = [row.split() for row in rows[2:7]]
    assert [int(row[1]) for row in table] == splits.y_test[:5].tolist()
    assert [int(row[2]) for row in table] == predicted.tolist()
    assert accuracy == np.mean(predicted == splits.y_test[:5])


@pytest.mark.slow
def test_demo_sends_the_first_test_photos(photo_run, capsys, no_whole_splits):
    reference = decoded_test(photo_run.run_dir)
    accuracy = demo.run_demo(photo_run.run_dir, count=3)
    rows = [row.split() for row in capsys.readouterr().out.splitlines()[2:5]]
    predicted = predicted_classes(reference)[:3]
    names = reference.splits.class_names
    assert [row[2] for row in rows] == [names[k] for k in predicted]
    assert accuracy == np.mean(predicted == reference.splits.y_test[:3])
