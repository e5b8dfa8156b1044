"""Keras 3 models (`import keras`) train under tfmodel.train with their own Keras: the project's
optimizer and kernel penalties, one replica or four mirrored ones, and a run folder that loads
back with Keras 3."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from kills import kill_after
from ports import free_port

from tfmodel import runs
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.models import build_model, load_model
from tfmodel.training.keras3_fit import keras3_steps_per_execution

# A functional CNN on 8×8 digits: a conv, a depthwise conv, a separable conv and the logits.
BUILDER = textwrap.dedent(
    """
    import keras

    def cnn(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Rescaling(1 / 16)(inputs)
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv")(x)
        x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
        x = keras.layers.SeparableConv2D(16, 3, activation="relu", name="sep")(x)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))
    """
)
# (layer, attribute) of every kernel BUILDER makes, written out by hand.
KERNELS = [
    ("conv", "kernel"),
    ("dw", "kernel"),
    ("sep", "depthwise_kernel"),
    ("sep", "pointwise_kernel"),
    ("logits", "kernel"),
]


@pytest.fixture
def builder(tmp_path) -> str:
    path = tmp_path / "keras3_cnn.py"
    path.write_text(BUILDER)
    return f"{path}:cnn"


def penalties(model, l1: dict[str, float], l2: dict[str, float]) -> list[float]:
    """Each kernel's l1·Σ|w| + l2·Σw², summed in float64 from the weights."""
    out = []
    for layer, attribute in KERNELS:
        w = getattr(model.get_layer(layer), attribute).numpy().astype(np.float64)
        out.append(l1.get(layer, 0.0) * np.abs(w).sum() + l2.get(layer, 0.0) * np.square(w).sum())
    return out


def test_a_keras3_model_keeps_its_keras_and_each_kernel_its_penalty_after_saving(builder, tmp_path):
    from tfmodel.keras3 import keras

    reg = RegularizerConfig("l1_l2", 0.01, 0.001, layers={"logits": {"kind": "l2", "l2": 0.5}})
    model = build_model(ModelConfig(builder=builder), reg, (8, 8, 1), 10, 16.0)
    assert isinstance(model, keras.Model)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded, keras.Model)
    l1 = {"conv": 0.01, "dw": 0.01, "sep": 0.01}
    l2 = {"conv": 0.001, "dw": 0.001, "sep": 0.001, "logits": 0.5}
    expected = penalties(loaded, l1, l2)
    assert len(loaded.losses) == len(KERNELS)
    got = sorted(float(loss) for loss in loaded.losses)
    np.testing.assert_allclose(got, sorted(expected), rtol=1e-5)


def test_a_keras3_file_trains_as_its_own_keras(builder, tmp_path):
    """A `.keras` file saved by Keras 3 comes in through model.from_keras as a Keras 3 model."""
    from tfmodel.keras3 import keras

    model = build_model(ModelConfig(builder=builder), RegularizerConfig("none"), (8, 8, 1), 10, 16)
    model.save(tmp_path / "user.keras")
    again = build_model(
        ModelConfig(from_keras=str(tmp_path / "user.keras")),
        RegularizerConfig("none"),
        (8, 8, 1),
        10,
        16.0,
    )
    assert isinstance(again, keras.Model)
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])


def train_command(*args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    return [sys.executable, "-m", "tfmodel.train", "--output", "runs", *args], env


def run_train(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m tfmodel.train ARGS` in `cwd`, to its end."""
    command, env = train_command(*args)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


ADAM_L2 = [
    "--set", "optimizer.name=adam", "--set", "optimizer.learning_rate=0.01",
    "--set", "regularizer.kind=l2", "--set", "regularizer.l2=0.0001",
    "--set", "training.verbose=2", "--epochs", "8",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "cpus"), [("cpu", 1), ("mirrored", 4)], ids=["one_replica", "four_mirrored"]
)
def test_a_keras3_cnn_trains_on_digits_with_the_projects_adam_and_l2(
    builder, tmp_path, strategy, cpus
):
    from tfmodel.keras3 import keras
    from tfmodel.optimizers.keras3 import Adam

    devices = ["--cpu-devices", str(cpus)] if cpus > 1 else []
    done = run_train(
        tmp_path, "--set", f"model.builder={builder}", "--strategy", strategy, *devices, *ADAM_L2
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "runs" / runs.LATEST_LINK
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert metrics["replicas"] == cpus
    assert metrics["test_accuracy"] >= 0.90
    said = done.stdout.count("Keras 3 under MirroredStrategy fits one step per execution")
    assert said == (1 if cpus > 1 else 0)

    _, loaded = runs.load_run(run_dir)  # by the Keras its metadata.json names
    assert isinstance(loaded, keras.Model) and type(loaded.optimizer) is Adam
    steps_per_epoch = math.ceil(metrics["n_train"] / metrics["global_batch_size"])
    assert int(loaded.optimizer.iterations.numpy()) == 8 * steps_per_epoch  # no epoch overran
    expected = penalties(loaded, {}, {layer: 0.0001 for layer, _ in KERNELS})
    got = sorted(float(loss) for loss in loaded.losses)
    np.testing.assert_allclose(got, sorted(expected), rtol=1e-5)
    test_accuracy = loaded.evaluate(*digits_test_split(), verbose=0)[1]
    assert test_accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert (run_dir / runs.HISTORY_FILE).is_file() and (run_dir / runs.MODEL_CARD_FILE).is_file()
    assert_export_serves(run_dir, loaded, digits_test_split()[0][:8])
    if cpus == 1:  # once: the edge stage takes the Keras 3 run as it is (own pruning, no QAT)
        assert_edge_optimizes(tmp_path, run_dir, loaded)


def assert_edge_optimizes(cwd: Path, run_dir: Path, model) -> None:
    """`edge.optimize RUN` on a Keras 3 run: an int8 file agreeing with Keras, a pruned one
    holding the target sparsity in its kernels, QAT skipped with its reason."""
    from edge.device.runtime import EdgeModel
    from edge.sparsity import tflite_kernel_sparsity

    settings = ["edge.prune_epochs=1", "edge.latency_seconds=0.2", "edge.target_sparsity=0.5"]
    command = [sys.executable, "-m", "edge.optimize", str(run_dir), "--qat"]
    command += ["--variants", "int8,pruned_float32", *[f"--set={s}" for s in settings]]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    edge = run_dir / runs.EDGE_DIR
    x = digits_test_split()[0]
    int8_top = EdgeModel(edge / "model_int8.tflite").predict(x).argmax(axis=1)
    assert np.mean(int8_top == np.asarray(model(x)).argmax(axis=1)) >= 0.98
    sparsity = tflite_kernel_sparsity(edge / "model_pruned_float32.tflite")
    assert len(sparsity) == len(KERNELS)  # every conv and dense kernel of the builder
    for name, fraction in sparsity.items():
        assert abs(fraction - 0.5) <= 0.01, name
    assert "qat_int8 skipped: QAT is TFMOT's" in (edge / "report.md").read_text()


def assert_export_serves(run_dir: Path, model, x: np.ndarray) -> None:
    """The run's export answers serving_default with the softmax of the model's logits."""
    from tfmodel.backend import tf

    (version_dir,) = (run_dir / runs.EXPORT_DIR).glob("*/1")
    served = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    (input_name,) = served.structured_input_signature[1]
    probabilities = served(**{input_name: tf.constant(x, tf.float32)})["probabilities"].numpy()
    logits = np.asarray(model(x, training=False))
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(1, keepdims=True), atol=1e-5)


def test_keras3_steps_per_execution_divide_the_epoch_and_are_one_under_mirrored():
    assert keras3_steps_per_execution(32, "default", 81)[0] == 27
    assert keras3_steps_per_execution(32, "default", 41)[0] == 1  # a prime
    assert keras3_steps_per_execution(32, "one_device", 64)[0] == 32
    assert keras3_steps_per_execution(32, "default", 8)[0] == 8
    assert keras3_steps_per_execution(32, "mirrored", 64)[0] == 1


def digits_test_split():
    from tfmodel.config import load_config
    from tfmodel.data import load_splits

    config = load_config()
    splits = load_splits(config.data, config.training.seed)
    return splits.x_test, splits.y_test


def test_a_keras3_model_is_refused_on_multi_worker_in_one_line(builder, tmp_path):
    done = run_train(
        tmp_path, "--set", f"model.builder={builder}", "--set", "export.enabled=false",
        "--worker-hosts", f"127.0.0.1:{free_port()}", "--task-index", "0",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if "keras-team/keras#20585" in line]
    assert "multi_worker" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_a_keras3_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(builder, tmp_path):
    """Killed a moment into epoch 3 (epochs 1-2 backed up: every epoch), the same command replays
    epoch 3 from its start on the same batches and ends with the uninterrupted run's weights."""
    args = ["--set", f"model.builder={builder}", "--strategy", "cpu", "--epochs", "4"]
    args += ["--batch-size", "16", "--set", "training.steps_per_execution=1"]
    args += ["--set", "training.backup_every_s=0"]
    args += ["--set", "export.enabled=false", "--set", "training.verbose=2"]
    (tmp_path / "reference").mkdir()
    reference = run_train(tmp_path / "reference", *args)
    assert reference.returncode == 0, reference.stderr[-3000:]

    command, env = train_command(*args)
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    killed = kill_after(process, "Epoch 3/4", 0.2)
    assert "Epoch 4/4" not in killed  # it died inside epoch 3
    resumed = run_train(tmp_path, *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming unfinished run" in resumed.stdout
    assert re.findall(r"^Epoch (\d)/4", resumed.stdout, flags=re.MULTILINE) == ["3", "4"]

    def run_files(cwd: Path) -> tuple[list[np.ndarray], str]:
        run_dir = cwd / "runs" / runs.LATEST_LINK
        weights = load_model(run_dir / runs.MODEL_FILE).get_weights()
        return weights, (run_dir / runs.HISTORY_FILE).read_text()

    (final, history), (want, want_history) = run_files(tmp_path), run_files(tmp_path / "reference")
    largest = max(float(np.abs(a - b).max()) for a, b in zip(final, want, strict=True))
    assert largest <= 1e-6
    assert len(history.splitlines()) == 5  # the header and each epoch once
    assert history == want_history


def test_a_keras3_file_is_refused_mixed_precision_but_a_builder_is_not():
    import dataclasses

    from tfmodel.config import load_config
    from tfmodel.errors import UserError
    from tfmodel.training.keras3_fit import refuse_keras3_setting

    config = load_config()
    as_file = dataclasses.replace(config, model=ModelConfig(from_keras="user.keras"))
    with pytest.raises(UserError, match="keep the precision they were saved in"):
        refuse_keras3_setting(as_file, "simulated_tpu", "mixed_bfloat16", "model.from_keras x")
    as_builder = dataclasses.replace(config, model=ModelConfig(builder="b.py:f"))
    refuse_keras3_setting(as_builder, "simulated_tpu", "mixed_bfloat16", "model.builder b.py:f")


def test_a_keras3_inference_copy_computes_as_a_float32_build_of_the_model():
    """Keras 3's functional ops (`x + y`, as in MobileNetV3's residuals) clone without a dtype."""
    from tfmodel.keras3 import keras
    from tfmodel.models import inference_model

    def build() -> keras.Model:
        pixels = keras.Input((4, 4, 1))
        conv = keras.layers.Conv2D(2, 3, padding="same")(pixels)
        return keras.Model(pixels, keras.layers.Dense(3)(keras.layers.Flatten()(conv + pixels)))

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = build()
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    float32 = build()
    float32.set_weights(mixed.get_weights())
    copy = inference_model(mixed)
    assert {layer.dtype_policy.name for layer in copy.layers[1:]} == {"float32"}
    x = np.random.default_rng(0).uniform(0, 16, (2, 4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(copy(x), float32(x), atol=1e-5)
