"""Every edge variant of the 784-input MLP (784-128-10): file size, latency, start-up, memory.

At 784 inputs the weights dominate the file, so the size goals are measured here (random weights).
Latency: one example per `predict`, the variants alternating, per thread count. Start-up as
LiteRT's `benchmark_model` reports it, in a fresh process importing only the edge runtime.
"""

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import FRESH_ENV, command_side, latencies
from benchmarks.results import Figure, Result, Table
from edge import convert
from edge.device.benchmark import random_example
from edge.device.runtime import EdgeModel
from edge.prune import prune_model
from tfmodel.config import Config, EdgeConfig, ModelConfig, RegularizerConfig, TrainingConfig
from tfmodel.data import Splits
from tfmodel.models import build_model

SIZE_GOAL = 0.30  # int8 ÷ float32 bytes; pruned int8 ÷ float32 gzipped: half that
# size → (timed calls per variant and thread count, rounds, thread counts, pruning epochs)
SIZES = {"smoke": (5, 1, (1,), 1), "quick": (300, 3, (1, 2), 2), "full": (2000, 5, (1, 2), 2)}
# Run by a fresh Python: init, first inference and the process' peak resident memory after init
# and overall, as JSON. VmHWM counts this process alone (ru_maxrss carries across fork and exec).
STARTUP = """
import json, sys, time
import numpy as np
from edge.device.runtime import EdgeModel
peak = lambda: int([v for v in open("/proc/self/status") if "VmHWM" in v][0].split()[1]) / 1024
start = time.perf_counter()
model = EdgeModel(sys.argv[1], num_threads=1, verify=False)
init_ms, init_mb = (time.perf_counter() - start) * 1000, peak()
x = np.zeros((1, *model.input_shape), np.float32)
start = time.perf_counter()
model.predict(x)
first_ms = (time.perf_counter() - start) * 1000
print(json.dumps([init_ms, first_ms, init_mb, peak()]))
"""
STARTUP_COLUMNS = ["init ms", "first ms", "init MB", "overall MB"]


def build_files(prune_epochs: int) -> tuple[dict[str, bytes], float]:
    """Every variant's .tflite bytes for an untrained 784-128-10 MLP, and the pruned sparsity."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(1024, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=1024).astype(np.int64)
    splits = Splits(x, y, x[:0], y[:0], x[:64], y[:64], [str(i) for i in range(10)], 255.0)
    mlp, none = ModelConfig(hidden_units=[128]), RegularizerConfig(kind="none")
    model = build_model(mlp, none, (28, 28, 1), 10, 255.0)
    config = Config(training=TrainingConfig(verbose=0), edge=EdgeConfig(prune_epochs=prune_epochs))
    calibration = convert.calibration_examples(x, count=200)
    files = {k: convert.convert_model(model, "pixels", k, calibration) for k in convert.KINDS}
    litert = convert.quantize_with_litert(files["float32"], "pixels", calibration)
    files["int8 (litert-quantizer)"] = litert
    pruned = prune_model(model, splits, config)
    files["pruned_int8"] = convert.convert_model(pruned.model, "pixels", "int8", calibration)
    return files, pruned.sparsity


def startup(path: Path) -> list[float]:
    """Init and first-inference ms, peak memory MB after init and overall, in a fresh process."""
    done = command_side(["-c", STARTUP, str(path)], text=True, env=FRESH_ENV)()
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(size: str = "full") -> Result:
    runs, rounds, threads, prune_epochs = SIZES[size]
    files, sparsity = build_files(prune_epochs)
    sizes = {n: (len(c), len(gzip.compress(c, 9))) for n, c in files.items()}
    (raw, gz) = sizes["float32"]
    rows = {}
    for name, (b, g) in sizes.items():
        rows[name] = [name, f"{b / 1024:.1f}", f"{g / 1024:.1f}", f"{b / raw:.3f}", f"{g / gz:.3f}"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"variant{i}.tflite" for i, name in enumerate(files)}
        for name, path in paths.items():
            path.write_bytes(files[name])
            rows[name] += [f"{v:.3g}" for v in startup(path)]
        for count in threads:
            models = {n: EdgeModel(p, num_threads=count, verify=False) for n, p in paths.items()}
            example = random_example(models["float32"])
            timed = latencies({n: m.predict for n, m in models.items()}, example, runs, rounds)
            for name, latency in timed.items():
                rows[name] += [f"{latency.p50_ms * 1000:.1f}", f"{latency.p99_ms * 1000:.1f}"]
    columns = ["variant", "KB", "gzip KB", "× float32", "gzip × float32", *STARTUP_COLUMNS]
    columns += [f"{p} µs {n}t" for n in threads for p in ("p50", "p99")]
    pruned = sizes["pruned_int8"][1] / gz
    figures = [
        Figure("int8 bytes ÷ float32 bytes", sizes["int8"][0] / raw, "×", SIZE_GOAL, False),
        Figure("pruned int8 ÷ float32, gzipped", pruned, "×", SIZE_GOAL / 2, False),
    ]
    method = f"kernel sparsity {sparsity:.3f}; {rounds} round(s) of {runs} calls per thread count."
    title = "Edge: 784-128-10 MLP, file size, latency, start-up and memory per variant"
    return Result("edge_sizes", title, method, [Table(columns, rows.values())], figures)
