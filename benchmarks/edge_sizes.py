"""Every edge variant of the 784-input MLP (784-128-10): file size, latency, start-up, memory.

    python -m benchmarks.edge_sizes           # ~1 min on 2 cores; prints the table and rewrites
                                              # its section of benchmarks/RESULTS.md
    python -m benchmarks.edge_sizes --quick   # fewer calls; prints only

At 784 inputs the weights dominate the file, so this is where the size claims are measured:
int8 ≤ 0.30× float32, pruned-0.8 + int8 gzipped ≤ 0.15× float32 gzipped. The data are random
28×28 "images" (sizes do not depend on them), so no accuracy is reported here: see the digits
report written by `python -m edge.optimize`. Latency is one example per `predict` call, per
thread count. Start-up is measured as LiteRT's `benchmark_model` reports it, in a fresh process
that imports only the edge runtime (as a device would): init time (loading the file and making
the interpreter), first inference, and the process' peak resident memory after init and overall
(Python, numpy and the interpreter included: compare rows).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.results import (
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from edge import convert
from edge.device.benchmark import measure_latency, random_example
from edge.device.runtime import EdgeModel, describe_interpreter
from edge.prune import prune_model
from tfmodel.config import Config, ModelConfig, RegularizerConfig
from tfmodel.data import Splits
from tfmodel.models import build_model

SECTION = "## Edge: 784-128-10 MLP, file size, latency, start-up and memory per variant"
REPO = Path(__file__).resolve().parents[1]
# size → (timed calls per variant and thread count, thread counts, pruning epochs)
SIZES = {"smoke": (5, (1,), 1), "quick": (300, (1, 2), 2), "full": (2000, (1, 2), 2)}
# Run by a fresh Python with the repo on its path: init, first inference and the process' peak
# resident memory after init and overall, for one file, printed as JSON. VmHWM counts this
# process alone (ru_maxrss would report the parent's peak: it carries across fork and exec).
STARTUP = """
import json, sys, time
import numpy as np
from edge.device.runtime import EdgeModel
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
start = time.perf_counter()
model = EdgeModel(sys.argv[1], num_threads=1, verify=False)
init_ms, init_mb = (time.perf_counter() - start) * 1000, peak()
x = np.zeros((1, *model.input_shape), np.float32)
start = time.perf_counter()
model.predict(x)
first_ms = (time.perf_counter() - start) * 1000
print(json.dumps({"init ms": init_ms, "first ms": first_ms, "init MB": init_mb,
                  "overall MB": peak()}))
"""


def build_files(prune_epochs: int = 2) -> tuple[dict[str, bytes], float]:
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
    config.edge.prune_epochs = prune_epochs
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


def measure(
    files: dict[str, bytes], runs: int = 2000, threads: tuple[int, ...] = (1, 2)
) -> list[dict[str, object]]:
    """Per file: size raw and gzipped, both against float32, p50/p99 per thread count, start-up."""
    float_raw, float_gz = len(files["float32"]), len(gzip.compress(files["float32"], 9))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / f"{name.split()[0]}-{len(rows)}.tflite"
            path.write_bytes(content)
            gz = len(gzip.compress(content, 9))
            row = {
                "variant": name,
                "KB": len(content) / 1024,
                "gzip KB": gz / 1024,
                "× float32": len(content) / float_raw,
                "gzip × float32": gz / float_gz,
                **measure_startup(path),
            }
            for count in threads:
                model = EdgeModel(path, num_threads=count, verify=False)
                latency = measure_latency(model.predict, random_example(model), runs, runs // 10)
                row[f"p50 µs {count}t"] = latency.p50_ms * 1000
                row[f"p99 µs {count}t"] = latency.p99_ms * 1000
                row["interpreter"] = model.interpreter_name
            rows.append(row)
    return rows


def measure_startup(path: Path) -> dict[str, float]:
    """Init and first-inference ms, peak memory MB after init and overall, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", STARTUP, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table: every measured column, in the order measured."""
    columns = [c for c in rows[0] if c != "interpreter"]
    cells = [[row["variant"], *(format_cell(c, row[c]) for c in columns[1:])] for row in rows]
    return markdown_table(columns, cells)


def format_cell(column: str, value: float) -> str:
    """Ratios to 3 decimals; milliseconds to 3 significant digits (a first inference can take
    0.04 ms, which one decimal would show as 0.0); the rest to 1 decimal."""
    if "×" in column:
        return f"{value:.3f}"
    return f"{value:.3g}" if column.endswith(" ms") else f"{value:.1f}"


def run(size: str = "full") -> Section:
    """Build every variant, measure it: the section (the size goals are asserted in tests)."""
    check_size(size)
    runs, threads, prune_epochs = SIZES[size]
    files, sparsity = build_files(prune_epochs)
    rows = measure(files, runs, threads)
    table = format_table(rows)
    text = section_text(
        SECTION,
        "`python -m benchmarks.edge_sizes` — random weights and inputs (sizes do not depend on "
        f"them); pruned to kernel sparsity {sparsity:.3f}; latency: one example per `predict` "
        f"call, {runs} timed calls after a warm-up, per thread count (`1t`, `2t`); init, first "
        "inference and peak memory (the process' maximum resident set after init and overall, "
        "Python and numpy included) in a fresh process that imports only the edge runtime, as "
        "LiteRT's `benchmark_model` reports them; "
        f"{describe_interpreter(rows[0]['interpreter'])}.",
        table,
    )
    return Section(SECTION, text, table)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("edge_sizes", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
