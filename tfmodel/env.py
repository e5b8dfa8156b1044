"""`python -m tfmodel.env`: what this machine offers, the report to read first on a new machine.

It lists Python and the TensorFlow stack (which Keras is active, TFMOT, TFDS, the serving API, the
edge interpreter), the CPU's vector features, the GPUs and TPUs found, and the strategy that
`--strategy auto` would pick. Every row is probed on its own, so one broken package shows up as a
row saying so instead of stopping the report.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

from tfmodel.backend import keras, tf
from tfmodel.distribute.inventory import LocalDevices
from tfmodel.distribute.strategies import describe, make_strategy
from tfmodel.errors import UserError
from tfmodel.tables import format_rows

CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16")
CPU_FEATURES += ("avx_vnni", "amx_bf16", "amx_int8")
# Interpreters for .tflite files, best first: LiteRT, the standalone tflite_runtime, TF's own.
EDGE_INTERPRETERS = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
    ("tensorflow", "tensorflow.lite"),
)


def collect_report() -> list[tuple[str, str]]:
    """The report's rows as (what, found)."""
    rows = [
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("TensorFlow", _tensorflow()),
        ("Keras (active)", _keras()),
        (
            "Keras 3 package",
            f"{_version('keras')} (installed, unused)" if _version("keras") else "none",
        ),
        (
            "TF Model Optimization",
            _package("tensorflow-model-optimization", "tensorflow_model_optimization"),
        ),
        ("TF Datasets", _package("tensorflow-datasets", "tensorflow_datasets")),
        (
            "TF Serving API",
            _package("tensorflow-serving-api", "tensorflow_serving.apis.predict_pb2"),
        ),
        ("Edge interpreter", _edge_interpreter()),
        ("CPU", _cpu()),
        ("CPU features", _cpu_features()),
        ("GPUs", ", ".join(LocalDevices().gpus()) or "none"),
        ("TPUs", _tpus()),
        ("--strategy auto", _probe(lambda: describe(make_strategy("auto")))),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfmodel.env",
        description="Report the Python/TensorFlow stack, CPU, GPUs, TPUs and the strategy "
        "`--strategy auto` would use. Run it first on a new machine.",
        epilog="example: python -m tfmodel.env",
    )
    parser.parse_args(argv)
    print(format_rows(collect_report(), title="tfmodel environment"))
    return 0


def _tensorflow() -> str:
    build = tf.sysconfig.get_build_info()
    if build.get("is_cuda_build"):
        kind = f"CUDA {build.get('cuda_version', '?')} / cuDNN {build.get('cudnn_version', '?')}"
    else:
        kind = "ROCm" if build.get("is_rocm_build") else "CPU only"
    return f"{tf.__version__} (build: {kind})"


def _keras() -> str:
    """Which Keras the project and `tf.keras` use; they must be the same (Keras 2, tf_keras)."""
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "unset")
    same = (
        "same as tf.keras" if tf.keras.__name__.startswith(keras.__name__) else "tf.keras differs!"
    )
    return f"{keras.__name__} {keras.__version__} (Keras 2; TF_USE_LEGACY_KERAS={legacy}, {same})"


def _tpus() -> str:
    probe = LocalDevices().find_tpu("local")
    return probe.detail if probe.found else f"none: {probe.detail}"


def _edge_interpreter() -> str:
    found = []
    for dist, module in EDGE_INTERPRETERS:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        found.append(f"{module} {_version(dist) or ''}".strip())
    return ", ".join(found) or "none (pip install ai-edge-litert)"


def _package(dist: str, module: str) -> str:
    """The installed version, after checking that the package imports."""
    version = _version(dist)
    if version is None:
        return f"not installed (pip install {dist})"

    def imported_version() -> str:
        importlib.import_module(module)
        return version

    return _probe(imported_version)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu() -> str:
    model = _cpuinfo_field("model name") or platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} logical cores"


def _cpu_features() -> str:
    flags = set((_cpuinfo_field("flags") or "").split())
    if not flags:
        return "unknown (no /proc/cpuinfo)"
    present = [feature for feature in CPU_FEATURES if feature in flags]
    missing = [feature for feature in CPU_FEATURES if feature not in flags]
    return " ".join(present) + (f" (missing: {' '.join(missing)})" if missing else "")


def _cpuinfo_field(name: str) -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _probe(read: Callable[[], str]) -> str:
    """`read()`, or what went wrong, so one failing row does not hide the others."""
    try:
        return read()
    except UserError as err:
        return f"error: {err}"
    except Exception as err:  # a broken install is exactly what this report should show
        return f"broken: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


if __name__ == "__main__":
    sys.exit(main())
