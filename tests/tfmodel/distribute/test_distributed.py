"""Distributed training for real: two logical CPUs, two worker processes, a killed and resumed run.

Every run is `python -m tfmodel.train` in a child process (logical devices and TF_CONFIG must be set
before TensorFlow starts), on the embedded digits, with export off to stay fast. The child goes
through `tfmodel.train.main` with a spy on `train` that prints a digest of the final weights, so
workers can be compared even though only the chief keeps files.
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from kills import kill_after
from photos import write_photo_folder
from ports import free_ports

from tfmodel.backend import keras, tf
from tfmodel.distribute.strategies import StrategyInfo
from tfmodel.runs import BACKUP_DIR, EXPORT_DIR, LATEST_LINK, METRICS_FILE, MODEL_FILE

pytestmark = pytest.mark.slow

# Runs `tfmodel.train.main(argv)`, optionally on N logical CPUs, and prints the weights' digest.
DRIVER = textwrap.dedent(
    """
    import hashlib, sys
    cpus, argv = int(sys.argv[1]), sys.argv[2:]
    if cpus > 1:
        from tfmodel.distribute.strategies import split_cpu
        split_cpu(cpus)
    import tfmodel.train as train_module
    real_train = train_module.train

    def spy(*args, **kwargs):
        result = real_train(*args, **kwargs)
        weights = b"".join(w.tobytes() for w in result.model.get_weights())
        print("WEIGHTS", hashlib.sha256(weights).hexdigest(), flush=True)
        return result

    train_module.train = spy
    sys.exit(train_module.main(argv))
    """
)
QUICK = ["--set", "export.enabled=false", "--set", "training.verbose=2"]


def start_training(cwd: Path, *args: str, cpus: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    command = [sys.executable, "-c", DRIVER, str(cpus), "--output", "runs", *QUICK, *args]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen, timeout: float = 150) -> str:
    """The process' output once it exits 0 (it is killed if it overruns)."""
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(f"training did not finish in {timeout} s:\n{out[-3000:]}")
    assert process.returncode == 0, out[-3000:]
    return out


def train(cwd: Path, *args: str, cpus: int = 1) -> tuple[str, dict]:
    """Run training to the end; its output and the run's metrics.json."""
    out = finish(start_training(cwd, *args, cpus=cpus))
    metrics = json.loads((cwd / "runs" / LATEST_LINK / METRICS_FILE).read_text())
    return out, metrics


def epochs_started(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^Epoch (\d+)/\d+", out, flags=re.MULTILINE)]


def epoch_seconds(out: str) -> list[float]:
    """Each epoch's wall time as Keras printed it at the epoch's end (`81ms/epoch`, `2s/epoch`)."""
    times = re.findall(r"(\d+)(ms|s)/epoch", out)
    return [int(n) / (1000 if unit == "ms" else 1) for n, unit in times]


def weights_digest(out: str) -> str:
    return re.search(r"^WEIGHTS (\w+)", out, flags=re.MULTILINE).group(1)


def test_mirrored_on_two_cpus_with_a_scaled_rate_reaches_the_one_device_weights(tmp_path):
    """2 replicas × 32 at rate 0.01 scaled by 2 = one device × 64 at 0.02, weight for weight.

    Full batches only: Keras averages a short last batch per replica (7 and 6 examples of 13),
    which weighs its examples unevenly, so one device and two would differ there.
    """
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    epochs = ["--epochs", "3", "--set", "data.drop_remainder=true"]
    rate = "optimizer.learning_rate"
    out_one, one = train(
        tmp_path / "one",
        "--strategy",
        "cpu",
        "--batch-size",
        "64",
        "--set",
        f"{rate}=0.02",
        *epochs,
    )
    out_two, two = train(
        tmp_path / "two",
        "--strategy",
        "mirrored",
        "--batch-size",
        "32",
        "--set",
        f"{rate}=0.01",
        "--set",
        "optimizer.scale_learning_rate=true",
        *epochs,
        cpus=2,
    )
    assert "MirroredStrategy: 2 replicas on CPU:0, CPU:1" in out_two
    assert "batch 32 per replica × 2 = 64 global" in out_two
    assert (one["replicas"], one["global_batch_size"]) == (1, 64)
    assert (two["replicas"], two["global_batch_size"]) == (2, 64)
    from tfmodel.models import load_model

    scaled = load_model(tmp_path / "two" / "runs" / "latest" / "model.keras")
    reference = load_model(tmp_path / "one" / "runs" / "latest" / "model.keras")
    assert float(scaled.optimizer.learning_rate) == pytest.approx(0.02)
    largest = max(
        float(np.abs(a - b).max())
        for a, b in zip(scaled.get_weights(), reference.get_weights(), strict=True)
    )
    assert largest <= 1e-5
    assert two["test_accuracy"] > 0.85  # it learned, so agreeing is not agreeing on chance


def test_two_workers_train_in_lockstep_and_only_the_chief_keeps_a_run_folder(tmp_path):
    """Both workers save (saving reads synced variables, a collective), only the chief keeps it."""
    hosts = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    args = ["--epochs", "3", "--set", "export.enabled=true", "--worker-hosts", hosts]
    workers = [start_training(tmp_path, *args, "--task-index", str(i)) for i in range(2)]
    try:
        chief_out, worker_out = (finish(worker) for worker in workers)
    finally:
        for worker in workers:
            worker.kill()
    assert "this is worker 0 of 2 (the chief)" in chief_out
    assert "this is worker 1 of 2 (not the chief)" in worker_out
    assert epochs_started(chief_out) == epochs_started(worker_out) == [1, 2, 3]
    assert weights_digest(chief_out) == weights_digest(worker_out)

    runs = tmp_path / "runs"
    run_folders = [p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    assert run_folders == ["digits_mlp"], sorted(p.name for p in runs.iterdir())
    metrics = json.loads((runs / "digits_mlp" / METRICS_FILE).read_text())
    assert (metrics["replicas"], metrics["epochs"]) == (2, 3)
    assert list((runs / "digits_mlp" / EXPORT_DIR).glob("*/1/saved_model.pb"))  # the chief exported
    from tfmodel.models import load_model

    saved = load_model(runs / "digits_mlp" / MODEL_FILE).get_weights()
    assert hashlib.sha256(b"".join(w.tobytes() for w in saved)).hexdigest() == weights_digest(
        chief_out
    )


def run_files(cwd: Path) -> tuple[list[np.ndarray], bytes, list[np.ndarray], dict]:
    """Final weights, history.csv, best checkpoint weights and metrics of runs/latest."""
    from tfmodel import runs
    from tfmodel.models import load_model

    run_dir = cwd / "runs" / "latest"
    model = load_model(run_dir / runs.MODEL_FILE)
    final = model.get_weights()
    model.load_weights(run_dir / runs.CHECKPOINTS_DIR / runs.BEST_WEIGHTS_FILE)
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    return final, (run_dir / runs.HISTORY_FILE).read_bytes(), model.get_weights(), metrics


@pytest.mark.parametrize(
    "backup_every_s,folder",
    [(0, False), (1e9, False), (0, True)],
    ids=["every-epoch", "never-during-the-run", "image-folder-every-epoch"],
)
def test_a_run_killed_again_and_again_ends_exactly_as_an_uninterrupted_one(
    tmp_path, backup_every_s, folder
):
    """Three SIGKILLs at random points of random epochs (one on a folder), another once fit has
    returned (during testing and recording); the same command restarts it each time.

    Early stopping is on with a patience the run exhausts, so its counters and the best
    checkpoint must survive the restarts too. Backed up every epoch, each restart goes on from
    the epoch killed; with no backup due yet, it starts again from the first epoch. A kill lands
    within an epoch's time of that epoch's start, so while fit runs. After the fourth kill the
    backup that marks fit as done is left, and the last run trains no epoch. With `folder` the
    data are generated photos streamed from disk (images:DIR, augmented), not arrays.
    """
    epochs = 8
    args = ["--epochs", str(epochs), "--strategy", "cpu", "--batch-size", "16"]
    args += ["--set", "training.early_stopping_patience=2", "--set", "optimizer.learning_rate=0.05"]
    args += ["--set", f"training.backup_every_s={backup_every_s}"]
    if folder:
        write_photo_folder(tmp_path / "photos", per_class=60)
        args += ["--set", f"data.source=images:{tmp_path / 'photos'}"]
        args += ["--set", "data.image_size=[8,8]", "--set", "data.augment=[flip,rotate:0.1]"]
    (tmp_path / "reference").mkdir()
    reference_out, _ = train(tmp_path / "reference", *args)
    reference = run_files(tmp_path / "reference")

    rng = random.Random(20261129)
    last_epoch = epochs_started(reference_out)[-1]
    shortest = min(epoch_seconds(reference_out)[1:])  # the first epoch also traces the step
    # on arrays: one kill before the first backup exists, two in later epochs (repeats allowed);
    # on a folder, what is new is the streamed order: one kill in a later epoch tests it
    later = rng.choices(range(2, last_epoch + 1), k=2)
    kill_epochs = later[:1] if folder else [1, *later]
    points = sorted((epoch, round(rng.uniform(0.0, 0.9) * shortest, 3)) for epoch in kill_epochs)
    markers = [(f"Epoch {epoch}/{epochs}", delay) for epoch, delay in points]
    killed, backed_up = [], []
    for marker, delay in [*markers, ("test accuracy", 0.0)]:
        killed.append(kill_after(start_training(tmp_path, *args), marker, delay))
        backed_up.append(any(tmp_path.glob(f"runs/*/{BACKUP_DIR}/**/checkpoint")))
    out, _ = train(tmp_path, *args)
    final, history, best, metrics = run_files(tmp_path)

    where = f"kill points (epoch, seconds in): {points}"
    largest = max(float(np.abs(a - b).max()) for a, b in zip(final, reference[0], strict=True))
    print(f"{where}; max |Δw| {largest:.1e}; bit-identical {largest == 0}")
    assert largest <= 1e-6, where
    changed = [
        (got, want)
        for got, want in zip(history.splitlines(), reference[1].splitlines(), strict=False)
        if got != want
    ]
    assert history == reference[1], f"{where}; rows that differ: {changed}"  # same numbers
    assert all(np.array_equal(a, b) for a, b in zip(best, reference[2], strict=True)), where
    session = {k for k in {*metrics, *reference[3]} if k.endswith(("_seconds", "_this_session"))}
    assert {k: v for k, v in metrics.items() if k not in session} == {
        k: v for k, v in reference[3].items() if k not in session
    }, where
    if not folder:  # the photos are easy: validation may improve to the last epoch
        assert last_epoch < epochs  # early stopping ended the run, and its state had to survive
    # Where each restart went on from: once "Epoch N" shows, the epoch before it is backed up.
    # (A restart with no epoch left to run, as when a kill came just after fit returned: past it.)
    firsts = [(epochs_started(restart) or [last_epoch + 1])[0] for restart in killed[1:]]
    where += f"; backup left {backed_up}; restarts began at epochs {firsts}"
    for first, run, left in zip(firsts, killed[:-1], backed_up[:-1], strict=True):
        assert first >= epochs_started(run)[-1] if left else first == 1, where
    assert max(firsts) > 1 if backup_every_s == 0 else not any(backed_up[:-1]), where
    assert backed_up[-1] and epochs_started(out) == [], where  # fit was done: testing only


def test_on_tpu_the_batch_dimension_is_static(tmp_path, monkeypatch):
    """With a TPU-shaped strategy (stubbed on the CPU), every dataset fit sees has fixed batches."""
    from tfmodel import train as train_module
    from tfmodel.config import load_config
    from tfmodel.distribute import strategies

    fake_tpu = StrategyInfo(
        tf.distribute.OneDeviceStrategy("/cpu:0"), "tpu", "tpu", ("CPU:0",), 1, is_tpu=True
    )
    monkeypatch.setattr(strategies, "make_strategy", lambda *args, **kwargs: fake_tpu)
    seen = {}
    real_fit = keras.Model.fit

    def spy_fit(model, x=None, *args, validation_data=None, **kwargs):
        seen["train"], seen["validation"] = x, validation_data
        seen["steps_per_execution"] = int(model._steps_per_execution.numpy())
        return real_fit(model, x, *args, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    config = load_config(
        None,
        [
            f"output.dir={tmp_path / 'runs'}",
            "training.epochs=1",
            "export.enabled=false",
            "training.verbose=0",
            "data.batch_size=16",
        ],
    )
    result = train_module.train(config)
    assert keras.mixed_precision.global_policy().name == "float32"  # it did not leak out
    assert result.model.get_layer("dense0").dtype_policy.name == "mixed_bfloat16"
    for name in ("train", "validation"):
        pixels, labels, *weights = seen[name].element_spec  # validation has sample weights
        assert pixels.shape[0] == labels.shape[0] == 16, (name, seen[name].element_spec)
    assert seen["steps_per_execution"] == 32
    metrics = json.loads((result.run_dir / METRICS_FILE).read_text())
    assert metrics["precision"] == "mixed_bfloat16"
    assert np.isfinite(result.test_loss)
