"""Serving at a real model's cost: MobileNetV2 α 0.35 at 96×96 through the local server over
gRPC (and REST at one client), batching off and on, against the signature run in-process.

    python -m benchmarks.serving_model_cost           # ~3 min on 2 cores; prints the table and
                                                      # rewrites its section of RESULTS.md
    python -m benchmarks.serving_model_cost --quick   # ~1.5 min; prints only

The network is built untrained (`tfmodel.models.build_model`, the named `mobilenet_v2`; speed
does not depend on the weights) and exported with `export_for_serving`. Two in-process baselines
are measured in the same run, the way the server runs the SavedModel (a Session callable): the
signature on one example, and its curve over batch sizes up to 32 (the model's own batched
ceiling). The batching server's file is `serving.tune_batching`'s recipe over that curve (TF
Serving's CPU recipe: threads = enqueued batches = cores, max_batch_size at the knee,
allowed_batch_sizes up to it, a timeout of a tenth of a batch-1 run). Clients are threads of this
process sending one example per request back to back (see `serving_load`); cells take turns
in rotating order, so the ratios are of figures measured together on a shared machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import (
    SHARED_NOTE,
    Figure,
    Section,
    check_size,
    describe_machine,
    figures_table,
    markdown_table,
    quick_or_full_main,
)
from benchmarks.serving_load import Medians, grpc_caller, load, rest_caller
from benchmarks.serving_speed import start_server
from serving.server.servables.batching import batching_parameters_text
from serving.server.servables.servable import load_servable
from serving.tune_batching import Measurement, recipe
from tfmodel.config import Config, ModelConfig, RegularizerConfig
from tfmodel.export.saved_model import PREDICT_SIGNATURE, export_for_serving
from tfmodel.models import build_model

SECTION = "## Serving at model cost: MobileNetV2 α 0.35 96×96, batching off and on, vs in-process"
MODEL = "mobilenet"
INPUT_SHAPE = (96, 96, 3)
CLIENTS = (1, 8, 32)
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
# size → (seconds per cell, rounds, seconds per in-process batch size)
SIZES = {"smoke": (0.3, 1, 0.1), "quick": (1.5, 1, 0.5), "full": (4.0, 2, 2.0)}
WHY_CEILING = (
    "the batching server spends about as much CPU per request as the one without batching "
    "(server CPU column): the merged run saves less than the queue and the per-request Python "
    "work (protobuf ↔ numpy, grpcio's thread hand-offs) cost, on 2 cores shared with the "
    "clients and other jobs; a grpc.aio front end or TF Serving's C++ server are the next step"
)
WHY_GRPC = (
    "the ~1 ms of Python per request (grpcio's sync server, protobuf ↔ numpy) plus, on a loaded "
    "machine, the wait for a core the model's intra-op threads hold; see serving_speed"
)
WHY_REST = (
    "a 96×96×3 image is 27,648 JSON numbers (~580 KB): json.loads, the depth check and the "
    "conversion are each 10-30 ms in Python; JSON is the wrong format for pixels at this size "
    "(send JPEG bytes to `serving_bytes`, or use gRPC)"
)
COLUMNS = [
    "protocol",
    "batching",
    "clients",
    "p50 ms",
    "p99 ms",
    "requests/s",
    "server CPU ms/request",
]


def export_model(base: Path) -> tuple[Path, np.ndarray]:
    """The untrained MobileNetV2 exported under `base`: its version folder and one example."""
    config = Config()
    config.model = ModelConfig(name="mobilenet_v2", alpha=0.35)
    config.export.model_name = MODEL
    model = build_model(config.model, RegularizerConfig(kind="none"), INPUT_SHAPE, 10, 255.0)
    examples = np.random.default_rng(0).uniform(0, 255, (4, *INPUT_SHAPE)).astype(np.float32)
    version_dir = export_for_serving(model, config, examples, export_base=base, version=1)
    return version_dir, examples[:1]


def in_process_curve(version_dir: Path, example: np.ndarray, seconds: float):
    """The signature's median run time at each batch size, run as the server runs it; and p50 /
    p99 ms at batch 1."""
    servable = load_servable(MODEL, 1, str(version_dir))
    signature = servable.signatures[PREDICT_SIGNATURE]
    feed = signature.inputs["pixels"].name
    fetches = [signature.outputs[alias].name for alias in sorted(signature.outputs)]
    curve, single = [], []
    for size in BATCH_SIZES:
        batch = np.repeat(example, size, axis=0)
        servable.run_now({feed: batch}, fetches)  # warm
        times = []
        deadline = time.perf_counter() + seconds
        while len(times) < 5 or time.perf_counter() < deadline:
            began = time.perf_counter()
            servable.run_now({feed: batch}, fetches)
            times.append(time.perf_counter() - began)
        median = statistics.median(times)
        curve.append(Measurement(size, median * 1000, size / median))
        single = single or times
    servable.session.close()
    return curve, np.percentile(single, 50) * 1000, np.percentile(single, 99) * 1000


def run(size: str = "full") -> Section:
    """Export, baselines, both servers, every client count: the section and the goals."""
    check_size(size)
    seconds, rounds, curve_seconds = SIZES[size]
    cores = os.cpu_count() or 1
    samples: dict[tuple[str, str, int], list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        version_dir, example = export_model(Path(tmp) / "export")
        curve, local_p50, local_p99 = in_process_curve(version_dir, example, curve_seconds)
        base = version_dir.parent
        params = recipe(curve, cores, knee=0.9)
        batching = Path(tmp) / "batching.config"
        batching.write_text(batching_parameters_text(params))
        servers = {}
        plan = [("gRPC", mode, clients) for mode in ("off", "on") for clients in CLIENTS]
        plan += [("REST", "off", 1)]
        try:
            servers["off"] = start_server(base, None, MODEL)
            servers["on"] = start_server(base, batching, MODEL)
            for r in range(rounds):
                for protocol, mode, clients in plan[r % len(plan) :] + plan[: r % len(plan)]:
                    process, grpc_port, rest_port = servers[mode]
                    caller = grpc_caller if protocol == "gRPC" else rest_caller
                    port = grpc_port if protocol == "gRPC" else rest_port
                    make = lambda c=caller, p=port: c(p, MODEL, example)  # noqa: E731
                    cell = load(make, clients, seconds, process.pid)
                    samples.setdefault((protocol, mode, clients), []).append(cell)
        finally:
            for process, _, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    summary = {key: _medians(cells) for key, cells in samples.items()}
    return _section(summary, curve, (local_p50, local_p99), params, seconds, rounds)


def _medians(cells) -> Medians:
    return Medians(
        statistics.median(np.percentile(c.latencies, 50) * 1000 for c in cells),
        statistics.median(np.percentile(c.latencies, 99) * 1000 for c in cells),
        statistics.median(c.rate for c in cells),
        statistics.median(c.server_cpu for c in cells),
        statistics.median(c.client_cpu for c in cells),
    )


def _section(summary, curve, local, params, seconds: float, rounds: int) -> Section:
    ceiling = max(m.examples_per_second for m in curve if m.batch_size == max(BATCH_SIZES))
    rows = [
        [
            "in-process, batch 1",
            "—",
            "1",
            f"{local[0]:.2f}",
            f"{local[1]:.2f}",
            f"{curve[0].examples_per_second:.0f}",
            "—",
        ],
    ]
    rows += [
        [
            f"in-process, batch {m.batch_size}",
            "—",
            "1",
            f"{m.median_ms:.2f}",
            "—",
            f"{m.examples_per_second:.0f}",
            "—",
        ]
        for m in curve[1:]
    ]
    for (protocol, mode, clients), cell in summary.items():
        rows.append(
            [
                protocol,
                mode,
                str(clients),
                f"{cell.p50_ms:.2f}",
                f"{cell.p99_ms:.2f}",
                f"{cell.rate:.0f}",
                f"{cell.server_cpu * 1e3:.2f}",
            ]
        )
    table = markdown_table(COLUMNS, rows)
    on, off = summary["gRPC", "on", 32], summary["gRPC", "off", 32]
    figures = [
        Figure(
            "serving",
            "MobileNet gRPC requests/s at 32 clients, batching on ÷ in-process batch-32 examples/s",
            on.rate / ceiling,
            "×",
            0.8,
            why=WHY_CEILING,
        ),
        Figure(
            "serving",
            "MobileNet gRPC requests/s at 32 clients, batching on ÷ off",
            on.rate / off.rate,
            "×",
            2.0,
            why=_why_batching(curve, off.rate),
        ),
        Figure(
            "serving",
            "MobileNet gRPC p50 − in-process p50, 1 client, batching off",
            max(summary["gRPC", "off", 1].p50_ms - local[0], 1e-3),
            "ms",
            1.0,
            at_least=False,
            why=WHY_GRPC,
        ),
        Figure(
            "serving",
            "MobileNet REST p50 − in-process p50, 1 client, batching off",
            max(summary["REST", "off", 1].p50_ms - local[0], 1e-3),
            "ms",
            2.0,
            at_least=False,
            why=WHY_REST,
        ),
        Figure(
            "serving",
            "MobileNet gRPC p99 at 32 clients, batching on ÷ off",
            on.p99_ms / off.p99_ms,
            "×",
            1.0,
            at_least=False,
        ),
    ]
    text = "\n".join(
        [
            SECTION,
            "",
            f"`python -m benchmarks.serving_model_cost` — one example per request, {seconds:g} s a "
            f"cell, {rounds} round(s), rotating order; medians over rounds. Batching file "
            f"(`serving.tune_batching`'s recipe over the in-process curve): max_batch_size "
            f"{params.max_batch_size}, allowed_batch_sizes {list(params.allowed_batch_sizes)}, "
            f"batch_timeout_micros {params.batch_timeout_micros}, num_batch_threads = "
            f"max_enqueued_batches = {params.num_batch_threads}. {describe_machine()}; "
            f"{SHARED_NOTE}.",
            "",
            table,
            "",
            f"The in-process curve peaks at {max(m.examples_per_second for m in curve):.0f} "
            f"examples/s against {curve[0].examples_per_second:.0f} at batch 1 "
            f"({max(m.examples_per_second for m in curve) / curve[0].examples_per_second:.2f}×): "
            "that ratio bounds what batching can add on this machine.",
            "",
            "Each figure against its goal (ratios of cells measured in this one run):",
            "",
            figures_table(figures),
            "",
        ]
    )
    return Section(SECTION, text, table, figures)


def _why_batching(curve, off_rate: float) -> str:
    best = max(m.examples_per_second for m in curve)
    return (
        f"without batching, 32 concurrent batch-1 runs already reach {off_rate:.0f} requests/s, "
        f"{off_rate / curve[0].examples_per_second:.2f}× one batch-1 run at a time, and the "
        f"model's own best batched rate in-process is {best:.0f} examples/s: on these 2 cores "
        f"batching could add at most {best / off_rate:.2f}×, so 2× cannot be reached here"
    )


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("serving_model_cost", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
