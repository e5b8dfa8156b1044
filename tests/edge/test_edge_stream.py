"""edge.optimize on a photo folder, streamed as training streams it: a pruning fine-tune killed
and run again ends with the uninterrupted run's file, and the whole stage fits in a memory limit
that the train split decoded to float32 would break."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kills import kill_after
from photos import write_photo_folder

pytest.importorskip("tensorflow")

from edge.finetune import BACKUP_DIR  # noqa: E402
from edge.sparsity import tflite_kernels  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# Runs edge.optimize with its address space limited to argv[1] bytes (0: no limit); prints the
# process' peak address space (VmPeak, kB) when it ends.
LIMITED = """
import atexit, resource, runpy, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
def peak():
    status = open("/proc/self/status").read()
    print("VmPeak", status.split("VmPeak:")[1].split()[0], flush=True)
atexit.register(peak)
sys.argv = ["edge.optimize", *sys.argv[2:]]
runpy.run_module("edge.optimize", run_name="__main__", alter_sys=True)
"""
PIXELS = 4 * 3  # float32 bytes per pixel of an RGB image


def tiny_model(path: Path, size: int) -> Path:
    """A tf_keras `.keras` file (pixels → two logits) that tfmot prunes: a strided conv, a head."""
    from tfmodel.backend import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, name="logits")(x)).save(path)
    return path


def edge_command(model: Path, photos: Path, out: Path, *settings: str, limit: int = 0) -> list:
    command = [sys.executable, "-c", LIMITED, str(limit), str(model)]
    command += ["--data", f"images:{photos}", "--output", str(out)]
    return command + [arg for setting in settings for arg in ("--set", setting)]


def environment() -> dict[str, str]:
    # One malloc arena per process: glibc otherwise reserves 64 MB of address space per thread.
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "1"}


def run(command: list) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_a_pruning_fine_tune_killed_resumes_to_the_uninterrupted_file(tmp_path):
    """Killed as its third epoch starts (two backed up), edge.optimize run again resumes the
    pruning fine-tune from its backup and writes the uninterrupted run's pruned file."""
    write_photo_folder(tmp_path / "photos", per_class=20)
    model = tiny_model(tmp_path / "tiny.keras", 16)
    settings = ["edge.variants=[pruned_float32]", "edge.prune_epochs=4", "data.batch_size=4"]
    settings += ["training.backup_every_s=0", "training.verbose=2", "edge.latency_seconds=0.05"]
    settings += ["data.augment=[flip]", "training.steps_per_execution=2"]
    run(edge_command(model, tmp_path / "photos", tmp_path / "whole", *settings))

    command = edge_command(model, tmp_path / "photos", tmp_path / "killed", *settings)
    process = subprocess.Popen(
        command, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    kill_after(process, "Epoch 3/4", 0.0)
    assert (tmp_path / "killed" / BACKUP_DIR / "pruned" / "chief").is_dir()
    again = run(command)
    assert "resuming the fine-tune from its backup" in again.stdout
    assert "Epoch 1/4" not in again.stdout and "Epoch 4/4" in again.stdout

    pruned = "model_pruned_float32.tflite"  # its metadata zip holds file times: weights compared
    whole, resumed = (tflite_kernels(tmp_path / run / pruned) for run in ("whole", "killed"))
    assert list(resumed) == list(whole) and all(np.mean(k == 0) > 0.5 for k in whole.values())
    for name, kernel in whole.items():
        np.testing.assert_array_equal(resumed[name], kernel, err_msg=name)
    assert not (tmp_path / "killed" / BACKUP_DIR).exists()
    assert not (tmp_path / "whole" / BACKUP_DIR).exists()


@pytest.mark.slow
def test_the_stage_runs_in_less_memory_than_the_decoded_train_split(tmp_path):
    """1,000 small photos (~1 kB each on disk) read at 160×160 are ~210 MB as a float32 train
    split. The stage (calibration, a pruning fine-tune, evaluation) runs again with its address
    space limited to what its first run peaked at plus half that: the first run's peak varies by
    tens of MB from run to run, and decoding the split adds all of it (checked: it then fails)."""
    write_photo_folder(tmp_path / "photos", per_class=500)
    size = 160
    model = tiny_model(tmp_path / "tiny.keras", size)
    settings = ["edge.variants=[int8,pruned_int8]", "edge.prune_epochs=1", "data.batch_size=32"]
    settings += ["edge.latency_seconds=0.05", "training.verbose=0"]
    settings += ["edge.calibration_examples=50", f"data.image_size=[{size},{size}]"]
    first = run(edge_command(model, tmp_path / "photos", tmp_path / "first", *settings))
    peak = int(first.stdout.split("VmPeak")[-1].split()[0]) * 1024
    train_examples = 700  # about: data.validation_split 0.1, data.test_split 0.2
    margin = train_examples * size * size * PIXELS // 2
    limited = edge_command(
        model, tmp_path / "photos", tmp_path / "limited", *settings, limit=peak + margin
    )
    run(limited)
    assert (tmp_path / "limited" / "model_pruned_int8.tflite").is_file()
