"""First run reads clean: `make demo`'s three commands print none of TensorFlow's C++ logs, CUDA
probe, converter internals or deprecation notices, and `--verbose` brings them back (so they were
held, not lost); a failing conversion still shows the converter's own message in full.

Each command runs as a user runs it: a fresh process, no TF_CPP_MIN_LOG_LEVEL in the environment.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# TensorFlow's C++ logger (absl: "I0000 00:00:…"), its pre-init warning, the CUDA probe, the
# converter's and the TFLite runtime's C++ lines, Python deprecation notices.
NOISE = re.compile(
    r"^[IWEF]\d{4} |absl::InitializeLog|cuda|cuInit|fully_quantize|XNNPACK delegate"
    r"|WARNING:tensorflow|is deprecated",
    re.MULTILINE,
)
FAILING_CONVERSION = """
from tfmodel.backend import keras, tf
from edge.convert import convert_model

pixels = keras.Input((4,), name="pixels")  # Betainc is no TFLite builtin: conversion fails
model = keras.Model(pixels, keras.layers.Lambda(lambda t: tf.math.betainc(t, t, t))(pixels))
try:
    convert_model(model, "pixels", "float32")
except Exception as err:
    print(type(err).__name__)  # not the message: what reaches stderr is the held text
"""


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python ARGS` from the repository in a clean environment plus `env`; must exit 0."""
    clean = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFMODEL_VERBOSE")
    }
    result = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def noise(result: subprocess.CompletedProcess) -> list[str]:
    """The lines of stdout and stderr that are TensorFlow's rather than the project's."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if NOISE.search(line)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A one-epoch digits run (`python -m tfmodel.train`), its stdout and stderr checked here."""
    out = tmp_path_factory.mktemp("runs")
    result = run("-m", "tfmodel.train", "--epochs", "1", "--output", str(out))
    assert noise(result) == []
    assert "test accuracy" in result.stdout  # the project's own lines are still there
    (folder,) = out.glob("digits_mlp-*")
    return folder


EDGE = ("-m", "edge.optimize", "--set", "edge.prune_epochs=1", "--variants", "int8")


@pytest.mark.slow
def test_demo_commands_print_only_the_projects_lines(run_dir):
    demo = run("-m", "serving.demo", str(run_dir), "--count", "2")
    edge = run(*EDGE, str(run_dir), "--output", str(run_dir / "edge_quiet"))
    assert noise(demo) == [] and noise(edge) == []
    assert "server stopped" in demo.stdout and "model_int8.tflite" in edge.stdout


@pytest.mark.slow
def test_verbose_brings_tensorflows_logs_back(run_dir):
    demo = run("-m", "serving.demo", str(run_dir), "--count", "2", "--verbose")
    edge = run(*EDGE, str(run_dir), "--output", str(run_dir / "edge_verbose"), TFMODEL_VERBOSE="1")
    shown = "\n".join(noise(demo) + noise(edge))
    for line in ("absl::InitializeLog", "is deprecated", "fully_quantize", "XNNPACK delegate"):
        assert line in shown


@pytest.mark.slow
def test_a_failing_conversion_shows_the_converters_message_in_full():
    result = run("-c", FAILING_CONVERSION)
    # The project's one-line error (edge.convert: no builtin for an op) ...
    assert result.stdout.strip() == "FlexOpError"
    # ... and the converter's C++ diagnostics, not in the exception: replayed from fd 2.
    assert "failed while converting" in result.stderr
    assert "Custom ops: Betainc" in result.stderr


def test_the_two_quiet_modules_hold_the_same_code():
    """edge/device/quiet.py (device side) and tfmodel/quiet.py are twins by the import rules."""

    def code(path: Path) -> str:
        tree = ast.parse(path.read_text())
        del tree.body[0]  # the docstring, which says which side each serves
        return ast.dump(tree)

    assert code(REPO / "edge" / "device" / "quiet.py") == code(REPO / "tfmodel" / "quiet.py")
