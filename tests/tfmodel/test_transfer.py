"""Transfer learning: the phases planned, what each freezes, one history, and exact resume."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from photos import write_photo_folder

from tfmodel import runs
from tfmodel import train as train_module
from tfmodel.backend import keras
from tfmodel.config import ModelConfig, OptimizerConfig, RegularizerConfig, load_config
from tfmodel.errors import UserError
from tfmodel.models import build_model, transfer
from tfmodel.training import fitting

NONE = RegularizerConfig("none")

# A user's model with a BatchNorm in its base, small enough that a run takes seconds.
BUILDER = """
from tfmodel.backend import keras


def build(input_shape, num_classes):
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 16, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="head")(x))


def head_only(input_shape, num_classes):
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Flatten(name="flat")(keras.layers.Rescaling(1 / 16, name="rescale")(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="head")(x))
"""


@pytest.fixture
def builder(tmp_path) -> str:
    (tmp_path / "mine.py").write_text(BUILDER)
    return f"{tmp_path / 'mine.py'}:build"


def user_model(spec: str, **model) -> keras.Model:
    return build_model(ModelConfig(builder=spec, **model), NONE, (8, 8, 1), 10, 16.0)


def trainable(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers if layer.trainable_weights}


def test_no_freeze_epochs_is_one_plain_phase():
    adam = OptimizerConfig(name="adam", learning_rate=0.01)
    assert transfer.plan_phases(ModelConfig(), adam, 5) == [transfer.Phase(None, 0, 5, adam)]


def test_frozen_then_fine_tuning_at_a_tenth_of_the_rate_unless_given():
    adam = OptimizerConfig(name="adam", learning_rate=0.01)
    frozen, tuned = transfer.plan_phases(ModelConfig(freeze_epochs=2), adam, 5)
    assert (frozen.name, frozen.first_epoch, frozen.end_epoch) == ("frozen", 0, 2)
    assert frozen.optimizer == adam
    assert (tuned.name, tuned.first_epoch, tuned.end_epoch) == ("fine_tune", 2, 5)
    assert tuned.optimizer.learning_rate == pytest.approx(0.001) and tuned.optimizer.name == "adam"
    given = ModelConfig(freeze_epochs=2, fine_tune_learning_rate=3e-5)
    assert transfer.plan_phases(given, adam, 5)[1].optimizer.learning_rate == 3e-5
    only_head = transfer.plan_phases(ModelConfig(freeze_epochs=5), adam, 5)
    assert [phase.name for phase in only_head] == ["frozen"]


@pytest.mark.parametrize(
    "model, message",
    [
        (ModelConfig(freeze_epochs=6), "freeze_epochs is 6, training.epochs 5"),
        (ModelConfig(fine_tune_layers=3), "fine_tune_layers is 3 but model.freeze_epochs is 0"),
        (ModelConfig(freeze_epochs=1, fine_tune_learning_rate=0.0), "give a positive rate"),
    ],
)
def test_phases_that_cannot_be_are_one_clear_error(model, message):
    with pytest.raises(UserError, match=message):
        transfer.plan_phases(model, OptimizerConfig(), 5)


def test_the_base_is_every_layer_with_weights_before_the_last_dense(builder):
    model = user_model(builder)
    assert [layer.name for layer in transfer.base_layers(model)] == [
        "conv1",
        "bn",
        "conv2",
        "hidden",
    ]


def test_frozen_trains_the_head_alone_and_fine_tuning_the_top_but_never_batch_norm(builder):
    model = user_model(builder)
    top_three = ModelConfig(freeze_epochs=1, fine_tune_layers=3)
    frozen, tuned = transfer.plan_phases(top_three, OptimizerConfig(), 2)
    transfer.set_phase(model, top_three, frozen)
    assert trainable(model) == {"head"}
    transfer.set_phase(model, top_three, tuned)
    assert trainable(model) == {"head", "hidden", "conv2"}  # bn is among the top 3, kept frozen
    transfer.set_phase(model, ModelConfig(freeze_epochs=1), tuned)  # fine_tune_layers: all
    assert trainable(model) == {"head", "hidden", "conv2", "conv1"}
    assert not model.get_layer("bn").trainable


def test_a_nested_frozen_base_is_opened_up_for_fine_tuning():
    """The Keras-guide model: a base model frozen as a whole, called as one layer."""
    base = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="b1"), keras.layers.Dense(3, name="b2")]
    )
    base.trainable = False
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    model_cfg = ModelConfig(freeze_epochs=1, fine_tune_layers=1)
    frozen, tuned = transfer.plan_phases(model_cfg, OptimizerConfig(), 2)
    transfer.check_transfer(model, model_cfg)
    transfer.set_phase(model, model_cfg, tuned)
    assert {v.name.split("/")[0] for v in model.trainable_variables} == {"b2", "head"}
    transfer.set_phase(model, model_cfg, frozen)
    assert {v.name.split("/")[0] for v in model.trainable_variables} == {"head"}


@pytest.mark.parametrize(
    "layers, message",
    [(5, "fine_tune_layers is 5 but the base of model.builder"), ("top", "give a number")],
)
def test_fine_tune_layers_not_in_the_base_is_one_clear_error(builder, layers, message):
    model_cfg = ModelConfig(builder=builder, freeze_epochs=1, fine_tune_layers=layers)
    with pytest.raises(UserError, match=message):
        transfer.check_transfer(user_model(builder), model_cfg)


@pytest.mark.parametrize(
    "sets, message",
    [
        (["model.fine_tune_layers=9"], "fine_tune_layers is 9 but the base of model.builder"),
        (["model.builder={head_only}"], "needs a base to freeze, but model.builder"),
    ],
)
def test_bad_transfer_settings_end_in_one_line_and_exit_2(tmp_path, builder, capsys, sets, message):
    head_only = builder.replace(":build", ":head_only")
    args = ["--output", str(tmp_path / "runs"), "--epochs", "2"]
    for item in [f"model.builder={builder}", "model.freeze_epochs=1", *sets]:
        args += ["--set", item.format(head_only=head_only)]
    assert train_module.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # stopped before the run folder


@pytest.mark.slow
def test_mobilenet_frozen_phase_keeps_the_base_and_fine_tuning_only_the_top(tmp_path, monkeypatch):
    """MobileNetV2 α 0.35 at 32×32 from a body weights file: after the frozen epoch every base
    weight (BatchNorm statistics too) is the file's, bit for bit; after fine-tuning the top 4
    base layers with weights, only their convolutions changed; history.csv has both phases."""
    body = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    body.save_weights(tmp_path / "body_no_top.h5")
    write_photo_folder(tmp_path / "photos", per_class=12)
    after = []  # base weights at the end of each phase
    real_fit_phase = fitting._fit_phase

    def spy(config, setting, folder, model, *args):
        result = real_fit_phase(config, setting, folder, model, *args)
        after.append({layer.name: layer.get_weights() for layer in transfer.base_layers(model)})
        return result

    monkeypatch.setattr(fitting, "_fit_phase", spy)
    config = load_config(
        Path(__file__).parents[2] / "configs" / "photos_mobilenet_v2.yaml",
        [
            f"data.source=images:{tmp_path / 'photos'}",
            "data.image_size=[32,32]",
            "data.batch_size=8",
            f"model.weights={tmp_path / 'body_no_top.h5'}",
            "model.freeze_epochs=1",
            "model.fine_tune_layers=4",
            "optimizer.learning_rate=0.05",
            "training.epochs=2",
            "training.verbose=0",
            "export.enabled=false",
            "edge.enabled=false",
            f"output.dir={tmp_path / 'runs'}",
        ],
    )
    result = train_module.train(config)

    initial = {layer.name: layer.get_weights() for layer in body.layers if layer.weights}
    frozen, tuned = after
    assert list(frozen) == list(initial)  # the base is exactly the body

    def changed(weights: dict) -> set[str]:
        return {
            name
            for name, theirs in initial.items()
            if not all(np.array_equal(a, b) for a, b in zip(theirs, weights[name], strict=True))
        }

    assert changed(frozen) == set()
    # The top 4: block_16_project, its BN, Conv_1, Conv_1_bn; the BNs (statistics too) stay.
    assert list(initial)[-4:-2] == ["block_16_project", "block_16_project_BN"]
    assert changed(tuned) == {"block_16_project", "Conv_1"}
    history = (result.run_dir / runs.HISTORY_FILE).read_text().splitlines()
    header = history[0].split(",")
    phases = [row.split(",")[header.index("phase")] for row in history[1:]]
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"] and phases == [
        "frozen",
        "fine_tune",
    ]


# Runs `tfmodel.train.main(argv)` and prints a digest of the final weights.
DRIVER = textwrap.dedent(
    """
    import hashlib, sys
    import tfmodel.train as train_module
    real_train = train_module.train

    def spy(*args, **kwargs):
        result = real_train(*args, **kwargs)
        weights = b"".join(w.tobytes() for w in result.model.get_weights())
        print("WEIGHTS", hashlib.sha256(weights).hexdigest(), flush=True)
        return result

    train_module.train = spy
    sys.exit(train_module.main(sys.argv[1:]))
    """
)


def start(cwd: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_after(process: subprocess.Popen, marker: str) -> str:
    """SIGKILL `process` as soon as it prints `marker` (while that epoch trains)."""
    seen, deadline = "", time.monotonic() + 300
    while marker not in seen:
        line = process.stdout.readline()
        assert line and time.monotonic() < deadline, f"no {marker!r}:\n{seen}"
        seen += line
    process.send_signal(signal.SIGKILL)
    rest, _ = process.communicate()
    assert process.returncode == -signal.SIGKILL, f"it ended before the kill:\n{seen + rest}"
    return seen + rest


def finish(process: subprocess.Popen) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    return out


@pytest.mark.slow
def test_a_kill_in_each_phase_resumes_bit_exactly(tmp_path, builder):
    """Killed in the frozen phase's second epoch, then in the fine-tuning phase's second epoch:
    each restart goes on in the phase it was killed in, and the run ends with the weights,
    history.csv and best checkpoint of a run never stopped."""
    args = ["--output", "runs", "--epochs", "4", "--strategy", "cpu", "--batch-size", "64"]
    for item in (
        f"model.builder={builder}",
        "model.freeze_epochs=2",
        "model.fine_tune_layers=2",
        "optimizer.name=adam",
        "optimizer.learning_rate=0.01",
        "training.backup_every_s=0",
        "training.verbose=2",
        "export.enabled=false",
        "edge.enabled=false",
    ):
        args += ["--set", item]
    (tmp_path / "reference").mkdir()
    reference = finish(start(tmp_path / "reference", args))

    in_frozen = kill_after(start(tmp_path, args), "Epoch 2/2")
    assert "phase frozen: epochs 1 to 2" in in_frozen
    in_tuning = kill_after(start(tmp_path, args), "Epoch 4/4")
    assert "Epoch 1/2" not in in_tuning and "Epoch 2/2" in in_tuning  # went on in phase 1
    out = finish(start(tmp_path, args))
    assert "phase frozen" not in out and "Epoch 4/4" in out and "Epoch 3/4" not in out

    digest = [line for line in out.splitlines() if line.startswith("WEIGHTS")]
    assert digest == [line for line in reference.splitlines() if line.startswith("WEIGHTS")]
    got, want = (cwd / "runs" / "latest" for cwd in (tmp_path, tmp_path / "reference"))
    assert (got / runs.HISTORY_FILE).read_bytes() == (want / runs.HISTORY_FILE).read_bytes()
    best = runs.CHECKPOINTS_DIR + "/" + runs.BEST_WEIGHTS_FILE
    assert _digest(got / best) == _digest(want / best)
    assert "fine_tune" in (got / runs.HISTORY_FILE).read_text()


def _digest(weights_file: Path) -> str:
    import h5py

    digest = hashlib.sha256()
    with h5py.File(weights_file) as f:
        f.visititems(lambda _, item: digest.update(item[()].tobytes()) if _is_data(item) else None)
    return digest.hexdigest()


def _is_data(item) -> bool:
    return hasattr(item, "dtype")
