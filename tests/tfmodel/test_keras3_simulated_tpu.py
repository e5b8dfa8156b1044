"""The TPU recipe for Keras 3 builders on 8 logical CPUs: `--simulate-tpu 8` trains a small CNN on
digits, and a `keras.applications.MobileNetV3Small` (weights=None, α 0.25, 32×32, logits) with the
project's Adam and L2 on every kernel on generated photos, each in mixed_bfloat16 with static
batch shapes, a global batch larger than the validation split, and one step per execution (Keras
3's limit under MirroredStrategy, said once); their test metrics count every test example once.
The MobileNet's test is in test_keras3_mobilenet_tpu.py, so it runs beside this one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from photos import write_photo_folder
from test_keras3_training import assert_export_serves

from tfmodel import runs
from tfmodel.data import load_splits, reading
from tfmodel.models import inference_model

CNN = textwrap.dedent(
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
MOBILENET = textwrap.dedent(
    """
    import keras

    def mobilenet(input_shape, num_classes):
        return keras.applications.MobileNetV3Small(
            input_shape=input_shape, alpha=0.25, weights=None, classes=num_classes,
            include_preprocessing=True, classifier_activation=None,
        )
    """
)
REPLICAS = 8


@dataclass(frozen=True)
class Workload:
    """A builder, what it trains on, and what its run must show beyond the recipe's checks."""

    builder: str  # the builder file's text
    function: str  # the builder's function
    batch: int  # per replica
    epochs: int
    settings: Callable[[Path], list[str]]  # --set overrides beyond the builder, given tmp_path
    check: Callable[[Path, dict, object, object], None]  # (run folder, metrics, model, splits)


def check_cnn(run_dir: Path, metrics: dict, model, splits) -> None:
    """The digits' whole test split is counted, and the export serves the float32 copy."""
    assert metrics["n_test"] == 360
    assert_export_serves(run_dir, inference_model(model), reading.first_images(splits, "test", 8))


def photos_settings(tmp_path: Path) -> list[str]:
    """A tiny generated photo folder at 32×32, the project's Adam and L2 on every kernel."""
    write_photo_folder(tmp_path / "photos", per_class=24)
    return [
        f"data.source=images:{tmp_path / 'photos'}", "data.image_size=[32,32]",
        "optimizer.name=adam", "regularizer.kind=l2", "regularizer.l2=1.0e-5",
        "export.enabled=false", "edge.enabled=false",
    ]  # fmt: skip


def check_mobilenet(run_dir: Path, metrics: dict, model, splits) -> None:
    """One epoch of the project's Adam, with one L2 penalty on each of the network's kernels."""
    from tfmodel.optimizers.keras3 import Adam

    assert model.name.startswith("MobileNetV3Small") and type(model.optimizer) is Adam
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 48
    steps = metrics["n_train"] // metrics["global_batch_size"]  # the short batch dropped
    assert int(model.optimizer.iterations.numpy()) == steps >= 1
    kernels = [w for w in model.weights if w.path.endswith("kernel")]
    assert len(kernels) == 54  # convolutions, depthwise and squeeze-excite ones, and the logits
    assert len(model.losses) == len(kernels)


WORKLOADS = {
    "cnn-digits": Workload(CNN, "cnn", 32, 2, lambda tmp_path: [], check_cnn),
    "mobilenet-photos": Workload(MOBILENET, "mobilenet", 4, 1, photos_settings, check_mobilenet),
}


@pytest.mark.slow
def test_a_keras3_cnn_on_8_simulated_tpu_cores_counts_every_test_example(tmp_path):
    train_and_check("cnn-digits", tmp_path)


def train_and_check(name: str, tmp_path: Path) -> None:
    """Train workload `name` by the TPU recipe on 8 simulated replicas and check its run: the
    recipe said once, every test example counted once, then the workload's own checks."""
    from tfmodel.keras3 import keras

    work = WORKLOADS[name]
    (tmp_path / "builder.py").write_text(work.builder)
    settings = [
        f"model.builder={tmp_path / 'builder.py'}:{work.function}",
        f"data.batch_size={work.batch}",
        "training.verbose=2",
        *work.settings(tmp_path),
    ]
    command = [sys.executable, "-m", "tfmodel.train", "--simulate-tpu", str(REPLICAS)]
    command += ["--epochs", str(work.epochs), "--output", "runs"]
    command += [arg for setting in settings for arg in ("--set", setting)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    global_batch = work.batch * REPLICAS
    said = f"batch {work.batch} per replica × {REPLICAS} = {global_batch} global; precision "
    assert said + "mixed_bfloat16" in done.stdout
    said = "steps per execution 1 (not 32): Keras 3 under MirroredStrategy fits one step"
    assert done.stdout.count(said) == 1

    run_dir = tmp_path / "runs" / runs.LATEST_LINK
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert (metrics["strategy"], metrics["precision"]) == ("simulated_tpu", "mixed_bfloat16")
    assert (metrics["replicas"], metrics["global_batch_size"]) == (REPLICAS, global_batch)
    assert metrics["n_val"] < global_batch
    config, model = runs.load_run(run_dir)
    splits = load_splits(config.data, config.training.seed)
    assert metrics["n_test"] == len(splits.y_test)
    assert isinstance(model, keras.Model)
    assert model.layers[-1].dtype_policy.name == "mixed_bfloat16"  # built in the policy
    # The run's evaluation, over padded static batches, agrees with each test example counted
    # once: its accuracy is a count out of n_test and that count is the model's own on the split.
    correct = metrics["test_accuracy"] * len(splits.y_test)
    assert correct == pytest.approx(round(correct), abs=1e-3)
    test = reading.first_images(splits, "test", len(splits.y_test))
    logits = model.predict(test, batch_size=len(splits.y_test), verbose=0)
    reference = int(np.sum(np.argmax(logits, axis=1) == splits.y_test))
    assert abs(round(correct) - reference) <= 1  # bfloat16 may flip one near-tie
    work.check(run_dir, metrics, model, splits)
