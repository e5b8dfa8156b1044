"""KerasTuner searches a Keras 3 builder's model with Keras 3 (`python -m tfmodel.tune` in a
process of its own: KerasTuner binds itself to one Keras per process), and the best config trains
again to the validation accuracy the search saw."""

import csv
import os
import subprocess
import sys
import textwrap

import pytest

from tfmodel import runs
from tfmodel.config import load_config
from tfmodel.tune import report

# A Keras 3 MLP on 8×8 digits: a trial takes a few seconds.
BUILDER = textwrap.dedent(
    """
    import keras

    def mlp(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(inputs))
        x = keras.layers.Dense(16, activation="relu")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
    """
)
SPACE = "{optimizer.learning_rate: [0.02, 0.2]}"


def run(cwd, module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_a_keras3_builder_is_tuned_with_keras3_and_its_best_config_trains(tmp_path):
    from tfmodel.keras3 import keras

    (tmp_path / "mlp3.py").write_text(BUILDER)
    sets = [f"model.builder={tmp_path / 'mlp3.py'}:mlp", f"tune.space={SPACE}"]
    sets += ["training.verbose=0", "optimizer.name=adam"]
    flags = [arg for key in sets for arg in ("--set", key)]
    run(tmp_path, "tfmodel.tune", "--output", "tuning", "--trials", "2", "--epochs", "2", *flags)

    project = next((tmp_path / "tuning").iterdir())
    with (project / report.TRIALS_CSV).open() as f:
        rows = list(csv.DictReader(f))
    assert [row["trial"] for row in rows] == ["0", "1"]
    # KerasTuner's Keras 3 path keeps each trial's weights as a .weights.h5 file
    assert all(
        (project / f"trial_{row['trial']}" / "checkpoint.weights.h5").is_file() for row in rows
    )
    best = max(rows, key=lambda row: float(row["val_accuracy"]))

    best_config = project / report.BEST_CONFIG
    config = load_config(best_config)
    assert config.optimizer.learning_rate == float(best["optimizer.learning_rate"])
    run(tmp_path, "tfmodel.train", "--config", str(best_config), "--output", "runs",
        "--set", "export.enabled=false")  # fmt: skip
    run_dir = tmp_path / "runs" / runs.LATEST_LINK
    with (run_dir / runs.HISTORY_FILE).open() as f:
        val = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
    assert max(val) == pytest.approx(float(best["val_accuracy"]), abs=0.01)
    _, model = runs.load_run(run_dir)
    assert isinstance(model, keras.Model)
