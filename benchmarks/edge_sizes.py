"""Edge file sizes and latency for the reference MLP with 784 inputs (784-128-10), every variant.

    .venv/bin/python benchmarks/edge_sizes.py     # ~30 s on 2 cores; prints the table and
                                                  # rewrites its section of benchmarks/RESULTS.md

At 784 inputs the weights dominate the file, so this is where the size claims are measured:
int8 ≤ 0.30× float32, pruned-0.8 + int8 gzipped ≤ 0.15× float32 gzipped. The data are random
28×28 "images" (sizes do not depend on them), so no accuracy is reported here: see the digits
report written by `python -m edge.optimize`. Latency is one example per call, one thread.
"""

from __future__ import annotations

import gzip
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from results import RESULTS, markdown_table, write_section

from edge import convert
from edge.benchmark import measure_latency, random_example
from edge.prune import prune_model
from edge.runtime import EdgeModel, describe_interpreter
from tfmodel.config import Config, ModelConfig, RegularizerConfig
from tfmodel.data import Splits
from tfmodel.models import build_model

SECTION = "## Edge: 784-128-10 MLP, file size and latency per variant"


def build_files() -> tuple[dict[str, bytes], float]:
    """Every variant's .tflite bytes for an untrained 784-128-10 MLP, and the pruned sparsity."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(1024, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=1024).astype(np.int64)
    splits = Splits(x, y, x[:0], y[:0], x[:64], y[:64], [str(i) for i in range(10)], 255.0)
    model = build_model(
        ModelConfig(hidden_units=[128]), RegularizerConfig(kind="none"), (28, 28, 1), 10, 255.0
    )
    config = Config()
    config.training.verbose = 0
    config.edge.prune_epochs = 2
    calibration = convert.calibration_examples(x, count=200)
    files = {
        kind: convert.convert_model(model, "pixels", kind, calibration) for kind in convert.KINDS
    }
    files["int8 (litert-quantizer)"] = convert.quantize_with_litert(
        files["float32"], "pixels", calibration
    )
    pruned = prune_model(model, splits, config)
    files["pruned_int8"] = convert.convert_model(pruned.model, "pixels", "int8", calibration)
    return files, pruned.sparsity


def measure(files: dict[str, bytes]) -> list[dict[str, object]]:
    """Per file: size raw and gzipped, both against float32, and p50/p99 latency."""
    float_raw, float_gz = len(files["float32"]), len(gzip.compress(files["float32"], 9))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / f"{name.split()[0]}-{len(rows)}.tflite"
            path.write_bytes(content)
            model = EdgeModel(path, num_threads=1, verify=False)
            latency = measure_latency(model.predict, random_example(model), runs=300)
            gz = len(gzip.compress(content, 9))
            rows.append({
                "variant": name, "KB": len(content) / 1024, "gzip KB": gz / 1024,
                "× float32": len(content) / float_raw, "gzip × float32": gz / float_gz,
                "p50 ms": latency.p50_ms, "p99 ms": latency.p99_ms,
                "interpreter": model.interpreter_name,
            })  # fmt: skip
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table."""
    columns = ["variant", "KB", "gzip KB", "× float32", "gzip × float32", "p50 ms", "p99 ms"]
    cells = [
        [row["variant"], *(f"{row[c]:.3f}" if "ms" in c or "×" in c else f"{row[c]:.1f}"
                           for c in columns[1:])]
        for row in rows
    ]  # fmt: skip
    return markdown_table(columns, cells)


def main() -> int:
    files, sparsity = build_files()
    rows = measure(files)
    table = format_table(rows)
    text = "\n".join([
        SECTION, "",
        "`python benchmarks/edge_sizes.py` — random weights and inputs (sizes do not depend on "
        f"them); pruned to kernel sparsity {sparsity:.3f}; latency: one example per call, one "
        f"thread, {describe_interpreter(rows[0]['interpreter'])}, {platform.machine()} "
        "shared with other jobs (compare rows, not machines).", "",
        table, "",
    ])  # fmt: skip
    print(table)
    write_section(SECTION, text)
    print(f"wrote its section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
