"""`make gpu-check`: run the GPU recipe end to end on a machine with a GPU, and print a table.

Stages, each the command a user would type, in a scratch folder:
  1. train   MirroredStrategy over every GPU, mixed_float16, XLA (jit_compile), with export
  2. serve   the export through the local TF-Serving-compatible server (gRPC)
  3. edge    edge.optimize on the mixed-precision run (float32 and float16 .tflite)
  4. weights the same float32 recipe on the GPUs and on the CPU: final weights within 1e-4
             (TF32 off, deterministic ops; what remains is the order of floating-point sums)
Without a GPU it says so and exits 0, so it can sit in any CI and do its work the day a GPU is
there. Needs nothing but the repo and `make`'s install.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEIGHT_TOLERANCE = 1e-4
PER_REPLICA_BATCH = 32


def find_gpus() -> list[str]:
    """The GPUs TensorFlow sees (in a child process, so this one never initialises CUDA)."""
    code = (
        "from tfmodel.backend import tf;"
        "print('\\n'.join(d.name for d in tf.config.list_physical_devices('GPU')))"
    )
    out = _run([sys.executable, "-c", code], REPO, timeout=300)
    return [line for line in out.stdout.splitlines() if line.startswith("/physical_device:GPU")]


def run_checks(work: Path, gpus: int, epochs: int) -> list[tuple[str, bool, str]]:
    """Every stage in order; each row is (stage, passed, what was seen)."""
    rows = []
    recipe = [
        "--strategy",
        "gpu",
        "--set",
        "training.precision=mixed_float16",
        "--set",
        "training.jit_compile=true",
        "--epochs",
        str(epochs),
    ]
    trained = _train(work / "gpu", recipe)
    run_dir = work / "gpu" / "latest"
    if trained.returncode != 0:
        return [("train (mixed_float16, XLA)", False, _tail(trained))]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows.append(
        (
            "train (mixed_float16, XLA)",
            metrics["precision"] == "mixed_float16" and metrics["replicas"] == gpus,
            f"{metrics['replicas']} GPU replica(s), test accuracy {metrics['test_accuracy']:.4f}, "
            f"{metrics['train_seconds_this_session']} s",
        )
    )
    served = _run([sys.executable, "-m", "serving.demo", str(run_dir), "--count", "64"], work)
    correct = re.search(r"^(\d+)/(\d+) correct", served.stdout, flags=re.MULTILINE)
    rows.append(
        (
            "serve (float32 export, gRPC)",
            served.returncode == 0 and correct is not None,
            f"{correct.group(0)}" if correct else _tail(served),
        )
    )
    edge = _run(
        [sys.executable, "-m", "edge.optimize", str(run_dir), "--variants", "float32,float16"],
        work,
    )
    rows.append(("edge (float32, float16 .tflite)", *_edge_row(edge, run_dir)))
    rows.append(("weights GPU vs CPU (float32)", *_weights_row(work, gpus)))
    return rows


def _train(output: Path, args: list[str], env: dict[str, str] | None = None):
    command = [sys.executable, "-m", "tfmodel.train", "--output", str(output), "--no-resume"]
    return _run([*command, "--set", "training.verbose=2", *args], output.parent, env=env)


def _edge_row(edge: subprocess.CompletedProcess, run_dir: Path) -> tuple[bool, str]:
    if edge.returncode != 0:
        return False, _tail(edge)
    rows = json.loads((run_dir / "edge" / "report.json").read_text())["rows"]
    keras = next(row for row in rows if row["variant"] == "keras")["test_accuracy"]
    worst = max(abs(row["test_accuracy"] - keras) for row in rows)
    accuracies = ", ".join(f"{row['variant']} {row['test_accuracy']:.4f}" for row in rows)
    return worst <= 0.01, accuracies


def _weights_row(work: Path, gpus: int) -> tuple[bool, str]:
    """The float32 recipe on every GPU and on the CPU at the same global batch."""
    common = ["--epochs", "2", "--set", "export.enabled=false", "--set", "data.drop_remainder=true"]
    common += ["--set", "training.precision=float32"]
    exact = {**os.environ, "NVIDIA_TF32_OVERRIDE": "0", "TF_DETERMINISTIC_OPS": "1"}
    on_gpu = _train(
        work / "w_gpu",
        ["--strategy", "gpu", "--batch-size", str(PER_REPLICA_BATCH), *common],
        exact,
    )
    on_cpu = _train(
        work / "w_cpu",
        ["--strategy", "cpu", "--batch-size", str(PER_REPLICA_BATCH * gpus), *common],
    )
    for run in (on_gpu, on_cpu):
        if run.returncode != 0:
            return False, _tail(run)
    code = (
        "import sys, numpy as np\n"
        "from tfmodel.models import load_model\n"
        "a, b = (load_model(p).get_weights() for p in sys.argv[1:])\n"
        "print(max(float(np.abs(x - y).max()) for x, y in zip(a, b)))\n"
    )
    compared = _run(
        [sys.executable, "-c", code]
        + [str(work / name / "latest" / "model.keras") for name in ("w_gpu", "w_cpu")],
        work,
    )
    if compared.returncode != 0:
        return False, _tail(compared)
    largest = float(compared.stdout.strip().splitlines()[-1])
    return largest <= WEIGHT_TOLERANCE, f"max |Δw| {largest:.2e} (≤ {WEIGHT_TOLERANCE:g})"


def _run(command: list[str], cwd: Path, env=None, timeout: float = 3600):
    env = {**(env or os.environ), "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _tail(run: subprocess.CompletedProcess) -> str:
    lines = (run.stderr or run.stdout).strip().splitlines()
    return f"exit {run.returncode}: {lines[-1] if lines else 'no output'}"


def format_table(rows: list[tuple[str, bool, str]]) -> str:
    width = max(len(stage) for stage, _, _ in rows)
    return "\n".join(
        f"{stage:<{width}}  {'ok  ' if passed else 'FAIL'}  {detail}"
        for stage, passed, detail in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python hardware/gpu_check.py",
        description=__doc__.splitlines()[0],
        epilog="example: make gpu-check   (or: .venv/bin/python hardware/gpu_check.py --epochs 3)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the recipe run")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    gpus = find_gpus()
    if not gpus:
        print("gpu-check: TensorFlow sees no GPU on this machine; nothing to check (exit 0).")
        print("On an NVIDIA GPU machine: pip install 'tensorflow[and-cuda]', then make gpu-check")
        return 0
    print(f"gpu-check: {len(gpus)} GPU(s): {', '.join(gpus)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        rows = run_checks(work.resolve(), len(gpus), args.epochs)
    print(format_table(rows))
    print(f"gpu-check: {time.perf_counter() - started:.0f} s")
    return 0 if all(passed for _, passed, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
