"""Predict the fixed input sets with every model of some edge folders: the device check's workload.

Each folder's inputs are the test examples the edge stage ships beside its models (`samples.npz`).
Runs unchanged on the x86 host (the reference) and inside the emulated Pi, through the edge runtime
(no TensorFlow), one example per call as on a device. Writes OUT.npz (each model's outputs; an int8
model's as its int8 output tensor, so that runs compare exactly), keyed FOLDER/FILE, e.g.
`digits/model_int8.tflite`, and OUT.json (interpreter used, the CPU's feature bits, median latency
per model).

    python device/predict_set.py digits mobilenet /tmp/x86   # writes /tmp/x86.npz, /tmp/x86.json
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import time
from pathlib import Path

import numpy as np

from edge.device.manifest import SAMPLES_FILE
from edge.device.runtime import EdgeModel

AT_HWCAP, AT_HWCAP2 = 16, 26  # auxiliary-vector keys of the kernel's (or qemu's) CPU feature bits


def read_hwcaps() -> dict[str, int]:
    """The CPU feature bits the process was started with (what qemu's QEMU_CPU really gave)."""
    try:
        raw = Path("/proc/self/auxv").read_bytes()
    except OSError:
        return {}
    pairs = dict(struct.iter_unpack("<QQ", raw[: len(raw) // 16 * 16]))
    return {"hwcap": pairs.get(AT_HWCAP, 0), "hwcap2": pairs.get(AT_HWCAP2, 0)}


def find_models(models_dir: Path) -> list[Path]:
    """Every model_*.tflite of an edge folder and every encrypted one (.tflite.enc), by name.

    An encrypted file opens with the key file $TFMODEL_DECRYPT_KEY names (edge.device.crypto).
    """
    models = sorted([*models_dir.glob("model_*.tflite"), *models_dir.glob("model_*.tflite.enc")])
    if not models:
        sys.exit(f"predict_set: no model_*.tflite in {models_dir}; pass a run's edge/ folder")
    return models


def load_inputs(models_dir: Path) -> np.ndarray:
    """The fixed input set: the raw-pixel test examples saved beside the models."""
    path = models_dir / SAMPLES_FILE
    if not path.is_file():
        sys.exit(f"predict_set: no {path}; pass an edge/ folder written by edge.optimize")
    with np.load(path, allow_pickle=False) as samples:
        return samples["x"]


def raw_outputs(model: EdgeModel, probabilities: np.ndarray) -> np.ndarray:
    """An int8 model's output as int8 (float-I/O files too: the tensor their DEQUANTIZE reads),
    recovered from the runtime's dequantized output, so runs compare in quantization steps."""
    spec = model.integer_output()
    if spec is None:
        return probabilities
    quantized = np.round(probabilities / spec["scale"]) + spec["zero_point"]
    return quantized.astype(spec["dtype"])


def predict_set(folders: list[Path]) -> tuple[dict, dict]:
    """Outputs per model (one call per sample of its folder) and the run's description."""
    outputs, latency_ms, interpreters = {}, {}, set()
    for models_dir in folders:
        inputs = load_inputs(models_dir)
        for path in find_models(models_dir):
            key = f"{models_dir.name}/{path.name}"
            outputs[key], latency_ms[key] = predict_file(path, inputs, interpreters)
    meta = {
        "runtime": ",".join(sorted(interpreters)),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        **read_hwcaps(),
        "latency_ms": latency_ms,
    }
    return outputs, meta


def predict_file(
    path: Path, inputs: np.ndarray, interpreters: set[str]
) -> tuple[np.ndarray, float]:
    """(raw outputs, median ms per call) of one file, one sample per call, on one thread."""
    model = EdgeModel(path, num_threads=1)
    interpreters.add(model.interpreter_name)
    rows, times = [], []
    for sample in inputs:
        start = time.perf_counter()
        rows.append(model.predict(sample[None]))
        times.append(time.perf_counter() - start)
    return raw_outputs(model, np.concatenate(rows)), float(np.median(times) * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "models", type=Path, nargs="+", help="edge/ folders: model_*.tflite, samples.npz…"
    )
    parser.add_argument("out", type=Path, help="where to write OUT.npz and OUT.json")
    args = parser.parse_args(argv)
    outputs, meta = predict_set(args.models)
    np.savez(args.out.with_suffix(".npz"), **outputs)
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
