"""The TPU recipe for a Keras 3 builder on 8 logical CPUs: `--simulate-tpu 8` trains it in
mixed_bfloat16 with static batch shapes, a global batch (256) larger than the validation split
(144), and one step per execution (Keras 3's limit under MirroredStrategy, said once); its test
metrics count every test example once."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_keras3_training import assert_export_serves

from tfmodel import runs
from tfmodel.config import load_config
from tfmodel.data import load_splits
from tfmodel.models import inference_model

BUILDER = textwrap.dedent(
    """
    import keras

    def cnn(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Rescaling(1 / 16)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))
    """
)


@pytest.mark.slow
def test_a_keras3_cnn_on_8_simulated_tpu_cores_counts_every_test_example(tmp_path):
    from tfmodel.keras3 import keras

    (tmp_path / "cnn3.py").write_text(BUILDER)
    command = [sys.executable, "-m", "tfmodel.train", "--simulate-tpu", "8", "--epochs", "2"]
    command += ["--output", "runs", "--set", f"model.builder={tmp_path / 'cnn3.py'}:cnn"]
    command += ["--set", "training.verbose=2"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "batch 32 per replica × 8 = 256 global; precision mixed_bfloat16" in done.stdout
    said = "steps per execution 1 (not 32): Keras 3 under MirroredStrategy fits one step"
    assert done.stdout.count(said) == 1

    run_dir = tmp_path / "runs" / runs.LATEST_LINK
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert (metrics["strategy"], metrics["precision"]) == ("simulated_tpu", "mixed_bfloat16")
    assert (metrics["replicas"], metrics["global_batch_size"]) == (8, 256)
    config = load_config()
    splits = load_splits(config.data, config.training.seed)
    assert metrics["n_val"] < 256 and metrics["n_test"] == len(splits.y_test) == 360

    _, model = runs.load_run(run_dir)
    assert isinstance(model, keras.Model)
    assert model.get_layer("conv").dtype_policy.name == "mixed_bfloat16"  # built in the policy
    # The run's evaluation, over padded static batches, agrees with each test example counted
    # once: its accuracy is a count out of 360 and that count is the model's own on the split.
    correct = metrics["test_accuracy"] * len(splits.y_test)
    assert correct == pytest.approx(round(correct), abs=1e-3)
    logits = model.predict(splits.x_test, batch_size=len(splits.y_test), verbose=0)
    reference = int(np.sum(np.argmax(logits, axis=1) == splits.y_test))
    assert abs(round(correct) - reference) <= 1  # bfloat16 may flip one near-tie
    # the export serves the float32 copy of the model
    assert_export_serves(run_dir, inference_model(model), splits.x_test[:8])
