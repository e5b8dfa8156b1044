"""Serving at a real model's cost: MobileNetV2 α 0.35 at 96×96 and 224×224 through the local
server over gRPC and REST, pixels and JPEG bytes, batching off and on, against the signature
run in-process.

    python -m benchmarks.serving_model_cost           # ~25 min on 2 cores; prints the table
                                                      # and rewrites its section of RESULTS.md
    python -m benchmarks.serving_model_cost --quick   # ~4 min, 96×96 only; prints only

The network is built untrained (`tfmodel.models.build_model`, the named `mobilenet_v2`; speed
does not depend on the weights) and exported with `export_for_serving` as an image-folder
model, so the export has `serving_bytes` (JPEG in, decoded and resized in the graph) beside
the pixels signature. Baselines are measured in the same run, the way the server runs the
SavedModel (a Session callable): each signature on one example, and the pixels signature's
curve over batch sizes up to 32 (the model's own batched ceiling). The batching server's file
is `serving.tune_batching`'s recipe over that curve (TF Serving's CPU recipe: threads =
enqueued batches = cores, max_batch_size at the knee, allowed_batch_sizes up to it, a timeout
of a tenth of a batch-1 run). Clients are threads of this process sending one example per
request back to back (see `serving_load`); cells take turns in rotating order, so the ratios
are of figures measured together on a shared machine.
"""

from __future__ import annotations

import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.results import (
    Figure,
    Section,
    check_size,
    figures_table,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from benchmarks.serving_load import Input, Medians, grpc_caller, load, rest_caller
from benchmarks.serving_speed import start_server
from serving.server.servables.batching import batching_parameters_text
from serving.server.servables.servable import load_servable
from serving.tune_batching import Measurement, recipe
from tfmodel.config import Config, ModelConfig, RegularizerConfig
from tfmodel.export.saved_model import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    PREDICT_SIGNATURE,
    export_for_serving,
)
from tfmodel.models import build_model

SECTION = "## Serving at model cost: MobileNetV2 α 0.35 at 96×96 and 224×224, pixels and JPEG"
MODEL = "mobilenet"
ALPHA = 0.35
CLIENTS = (1, 8, 32)
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
INPUTS = ("pixels", "JPEG")
PROTOCOLS = ("gRPC", "REST")
# size → (seconds per cell, rounds, seconds per in-process batch size, input sides)
SIZES = {
    "smoke": (0.3, 1, 0.1, (96,)),
    "quick": (1.5, 1, 0.5, (96,)),
    "full": (4.0, 2, 2.0, (96, 224)),
}
WHY_CEILING = (
    "the batching server spends about as much CPU per request as the one without batching "
    "(server CPU column), ~6 ms, the model's own batch-1 cost: the merged run saves little on "
    "2 cores shared with the clients and other jobs. The front end is not what stops it: a "
    "grpc.aio server over the same ServerCore (tried in one run beside the sync one, batching "
    "on, 32 clients) answered 103 requests/s against the sync server's 135, at the same "
    "~6-7 ms of server CPU per request"
)
WHY_GRPC = (
    "the Python per request (grpcio's sync server and the client's channel, ~0.3 ms of "
    "protobuf ↔ numpy and metrics) plus, on a loaded machine, the wait for a core the model's "
    "intra-op threads hold; see serving_speed"
)
WHY_REST = (
    "every pixel is 3 JSON numbers (96×96: 27,648, ~550 KB; 224×224: 150,528, ~3 MB): orjson "
    "parses 96×96 in ~3 ms unloaded (json.loads took ~10), the dense check and conversion take "
    "~5 ms more and the body crosses the socket; JSON is the wrong format for pixels at this "
    "size (send JPEG bytes to `serving_bytes`, as the JPEG rows do, or use gRPC)"
)
BASELINE_NOTE = (
    "The in-process baselines are measured before the served cells, not in their rotation: "
    "when the load average is far above the cores (as here), a baseline can come out slower "
    "than the served call, so compare served cells with each other first (batching on ÷ off)."
)
COLUMNS = [
    "side",
    "input",
    "protocol",
    "batching",
    "clients",
    "p50 ms",
    "p99 ms",
    "requests/s",
    "server CPU ms/request",
]


@dataclass
class Export:
    """One exported MobileNet: its version folder and what a client sends, per input kind."""

    side: int
    version_dir: Path
    inputs: dict[str, Input]


@dataclass
class Baseline:
    """In-process figures of one signature: (batch size, median ms, examples/s) per batch
    size, and p50 / p99 ms at batch 1."""

    curve: list[Measurement]
    p50_ms: float
    p99_ms: float


def photo_jpeg(side: int) -> bytes:
    """A photo-like JPEG (smooth gradients, mild noise) of side × side, quality 90."""
    rng = np.random.default_rng(side)
    ramp = np.linspace(0, 1, side)
    smooth = np.stack([np.outer(ramp, 1 - ramp), np.outer(1 - ramp, ramp), np.outer(ramp, ramp)])
    pixels = smooth.transpose(1, 2, 0) * 200 + rng.normal(0, 12, (side, side, 3)) + 20
    stream = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(stream, "JPEG", quality=90)
    return stream.getvalue()


def export_model(base: Path, side: int) -> Export:
    """The untrained MobileNetV2 at `side`×`side` exported under `base`, with `serving_bytes`."""
    config = Config()
    config.model = ModelConfig(name="mobilenet_v2", alpha=ALPHA)
    config.export.model_name = MODEL
    config.data.source = "images:/nowhere"  # an image-folder model: its export decodes bytes
    config.data.image_size = [side, side]
    shape = (side, side, 3)
    model = build_model(config.model, RegularizerConfig(kind="none"), shape, 10, 255.0)
    examples = np.random.default_rng(0).uniform(0, 255, (4, *shape)).astype(np.float32)
    version_dir = export_for_serving(model, config, examples, export_base=base, version=1)
    jpeg = np.array([photo_jpeg(side)], dtype=object)
    inputs = {"pixels": Input(examples[:1]), "JPEG": Input(jpeg, BYTES_INPUT, BYTES_SIGNATURE)}
    return Export(side, version_dir, inputs)


def in_process(export: Export, kind: str, sizes, seconds: float) -> Baseline:
    """The signature's median run time at each of `sizes`, run as the server runs it."""
    given = export.inputs[kind]
    servable = load_servable(MODEL, 1, str(export.version_dir))
    signature = servable.signatures[given.signature or PREDICT_SIGNATURE]
    feed = signature.inputs[given.name].name
    fetches = [signature.outputs[alias].name for alias in sorted(signature.outputs)]
    curve, single = [], []
    for size in sizes:
        batch = np.repeat(given.example, size, axis=0)
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
    return Baseline(curve, np.percentile(single, 50) * 1000, np.percentile(single, 99) * 1000)


def plan_cells(size: str) -> list[tuple[str, str, str, int]]:
    """(input, protocol, batching, clients) of every cell; the smoke run keeps the cells the
    goals need and one client elsewhere."""
    plan = [
        (kind, protocol, mode, clients)
        for kind in INPUTS
        for protocol in PROTOCOLS
        for mode in ("off", "on")
        for clients in CLIENTS
    ]
    if size == "smoke":
        plan = [cell for cell in plan if cell[3] == 1 or cell[:2] == ("pixels", "gRPC")]
    return plan


def measure_side(base: Path, side: int, size: str) -> tuple[dict, dict, object]:
    """Baselines, both servers and every cell for one input side: (baselines by input kind,
    cell medians by (input, protocol, batching, clients), batching parameters)."""
    seconds, rounds, curve_seconds, _ = SIZES[size]
    export = export_model(base / str(side), side)
    baselines = {
        "pixels": in_process(export, "pixels", BATCH_SIZES, curve_seconds),
        "JPEG": in_process(export, "JPEG", (1, max(BATCH_SIZES)), curve_seconds),
    }
    params = recipe(baselines["pixels"].curve, os.cpu_count() or 1, knee=0.9)
    # Room in the queue for every client's request: past max_batch_size × max_enqueued_batches
    # TF Serving refuses the rest with UNAVAILABLE, and a refused client would stop measuring.
    room = -(-max(CLIENTS) // params.max_batch_size)
    params = dataclasses.replace(
        params, max_enqueued_batches=max(params.max_enqueued_batches, room)
    )
    batching = base / f"batching{side}.config"
    batching.write_text(batching_parameters_text(params))
    plan = plan_cells(size)
    samples: dict[tuple, list] = {}
    servers = {}
    try:
        servers["off"] = start_server(export.version_dir.parent, None, MODEL)
        servers["on"] = start_server(export.version_dir.parent, batching, MODEL)
        for r in range(rounds):
            for kind, protocol, mode, clients in plan[r % len(plan) :] + plan[: r % len(plan)]:
                process, grpc_port, rest_port = servers[mode]
                caller = grpc_caller if protocol == "gRPC" else rest_caller
                port = grpc_port if protocol == "gRPC" else rest_port
                given = export.inputs[kind]
                make = lambda c=caller, p=port, g=given: c(p, MODEL, g)  # noqa: E731
                cell = load(make, clients, seconds, process.pid)
                samples.setdefault((kind, protocol, mode, clients), []).append(cell)
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    return baselines, {key: _medians(cells) for key, cells in samples.items()}, params


def run(size: str = "full") -> Section:
    """Every side's export, baselines, both servers, every cell: the section and the goals."""
    check_size(size)
    sides = SIZES[size][3]
    with tempfile.TemporaryDirectory() as tmp:
        measured = {side: measure_side(Path(tmp), side, size) for side in sides}
    return _section(measured, size)


def _medians(cells) -> Medians:
    return Medians(
        statistics.median(np.percentile(c.latencies, 50) * 1000 for c in cells),
        statistics.median(np.percentile(c.latencies, 99) * 1000 for c in cells),
        statistics.median(c.rate for c in cells),
        statistics.median(c.server_cpu for c in cells),
        statistics.median(c.client_cpu for c in cells),
    )


def _rows(side: int, baselines: dict, summary: dict) -> list[list[str]]:
    rows = []
    for kind, baseline in baselines.items():
        for m in baseline.curve:
            p99 = f"{baseline.p99_ms:.2f}" if m.batch_size == 1 else "—"
            label = f"in-process, batch {m.batch_size}"
            rows.append(
                [str(side), kind, label, "—", "1", f"{m.median_ms:.2f}", p99]
                + [f"{m.examples_per_second:.0f}", "—"]
            )
    for (kind, protocol, mode, clients), cell in summary.items():
        rows.append(
            [str(side), kind, protocol, mode, str(clients), f"{cell.p50_ms:.2f}"]
            + [f"{cell.p99_ms:.2f}", f"{cell.rate:.0f}", f"{cell.server_cpu * 1e3:.2f}"]
        )
    return rows


def _figures(side: int, baselines: dict, summary: dict) -> list[Figure]:
    pixels = baselines["pixels"]
    ceiling = next(m for m in pixels.curve if m.batch_size == max(BATCH_SIZES))
    on, off = summary["pixels", "gRPC", "on", 32], summary["pixels", "gRPC", "off", 32]
    name = f"MobileNet {side}×{side}"
    figures = [
        Figure(
            "serving",
            f"{name} gRPC requests/s at 32 clients, batching on ÷ in-process batch-32 examples/s",
            on.rate / ceiling.examples_per_second,
            "×",
            0.8,
            why=WHY_CEILING,
        ),
        Figure(
            "serving",
            f"{name} gRPC requests/s at 32 clients, batching on ÷ off",
            on.rate / off.rate,
            "×",
            2.0,
            why=_why_batching(pixels.curve, off.rate),
        ),
        Figure(
            "serving",
            f"{name} gRPC p99 at 32 clients, batching on ÷ off",
            on.p99_ms / off.p99_ms,
            "×",
            1.0,
            at_least=False,
        ),
    ]
    for kind in INPUTS:
        for protocol, goal, why in (("gRPC", 1.0, WHY_GRPC), ("REST", 2.0, WHY_REST)):
            overhead = summary[kind, protocol, "off", 1].p50_ms - baselines[kind].p50_ms
            figures.append(
                Figure(
                    "serving",
                    f"{name} {kind} {protocol} p50 − in-process p50, 1 client, batching off",
                    max(overhead, 1e-3),
                    "ms",
                    goal,
                    at_least=False,
                    why=why if kind == "pixels" else "",
                )
            )
    return figures


def _section(measured: dict, size: str) -> Section:
    seconds, rounds, _, _ = SIZES[size]
    rows, figures, notes = [], [], []
    for side, (baselines, summary, params) in measured.items():
        rows += _rows(side, baselines, summary)
        figures += _figures(side, baselines, summary)
        curve = baselines["pixels"].curve
        best = max(m.examples_per_second for m in curve)
        notes.append(
            f"At {side}×{side} the batching file is max_batch_size {params.max_batch_size}, "
            f"allowed_batch_sizes {list(params.allowed_batch_sizes)}, batch_timeout_micros "
            f"{params.batch_timeout_micros}, num_batch_threads {params.num_batch_threads}, "
            f"max_enqueued_batches {params.max_enqueued_batches}; the in-process curve peaks "
            f"at {best:.0f} examples/s against {curve[0].examples_per_second:.0f} at batch 1 "
            f"({best / curve[0].examples_per_second:.2f}×): that ratio bounds what batching "
            "can add on this machine."
        )
    table = markdown_table(COLUMNS, rows)
    text = section_text(
        SECTION,
        f"`python -m benchmarks.serving_model_cost` — one example per request (JPEG: one "
        f"encoded photo to `serving_bytes`), {seconds:g} s a cell, {rounds} round(s), "
        f"rotating order; medians over rounds. Batching files are `serving.tune_batching`'s "
        "recipe over each in-process curve, max_enqueued_batches raised where needed so the "
        "queue holds a request from each of 32 clients.",
        table,
        *notes,
        BASELINE_NOTE,
        "Each figure against its goal (ratios of cells measured in this one run):",
        figures_table(figures),
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
