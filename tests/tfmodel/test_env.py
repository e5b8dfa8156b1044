"""`python -m tfmodel.env` runs and reports the stack, the CPU and the strategy auto picks."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from tfmodel import env
from tfmodel.backend import tf
from tfmodel.distribute.devices import scan_tpus

HAS_TPU = bool(scan_tpus().chips)


@pytest.mark.slow
def test_env_report_names_every_piece_with_its_installed_version():
    out = subprocess.run(
        [sys.executable, "-m", "tfmodel.env"], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    rows = dict(line.split("  ", 1) for line in out.stdout.splitlines() if "  " in line)
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    version = importlib.metadata.version
    assert rows["TensorFlow"].startswith(version("tensorflow"))
    assert rows["Keras (active)"].startswith(f"tf_keras {version('tf_keras')}")
    assert "same as tf.keras" in rows["Keras (active)"]
    assert rows["TF Model Optimization"] == version("tensorflow-model-optimization")
    assert rows["TF Datasets"] == version("tensorflow-datasets")
    assert rows["TF Serving API"] == version("tensorflow-serving-api")
    assert rows["Edge interpreter"].startswith(
        f"ai_edge_litert.interpreter {version('ai-edge-litert')}"
    )
    flags = next(
        line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
    )
    assert ("avx2" in rows["CPU features"].split(" (missing")[0]) == ("avx2" in flags.split())
    if not tf.config.list_physical_devices("GPU") and not HAS_TPU:  # a CPU-only machine
        assert rows["GPUs"] == "none" and rows["TPUs"].startswith("none")
        assert rows["--strategy auto"] == "strategy auto → the default strategy: 1 replica on CPU:0"


def test_missing_and_broken_packages_are_rows_not_crashes():
    assert env._package("no-such-dist-for-tfmodel", "no_such_module") == (
        "not installed (pip install no-such-dist-for-tfmodel)"
    )
    assert env._package("pyyaml", "no_such_module_for_tfmodel").startswith(
        "broken: ModuleNotFoundError"
    )
