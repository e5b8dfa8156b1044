"""The local model server (gRPC Predict and REST) against the same SavedModel run in-process,
batching off and on: the untrained digits MLP, and MobileNetV2 α 0.35 at 96×96 and 224×224 with
pixels and JPEG bytes. In-process: each signature run as the server runs it (a Session callable),
the pixels one over batch sizes up to 32. The batching file is `serving.tune_batching`'s recipe
over that curve, with queue room for every client. Clients are threads of this process
(`serving_load`), one example a request; the cells alternate.
"""

import dataclasses
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.harness import alternate
from benchmarks.results import Figure, Result, Table
from benchmarks.serving_load import MAX_CLIENTS, Input, grpc_caller, load, rest_caller, served
from serving.server.servables.batching import BatchingParameters, batching_parameters_text
from serving.server.servables.servable import load_servable
from serving.tune_batching import Measurement, recipe
from tfmodel.config import Config, ExportConfig, ModelConfig, RegularizerConfig
from tfmodel.export import saved_model
from tfmodel.models import build_model

MODEL = "model"
CLIENTS = (1, 8, MAX_CLIENTS)
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
BYTES = saved_model.BYTES_INPUT, saved_model.BYTES_SIGNATURE  # what a JPEG is sent to


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    network: str  # "mlp" (the digits recipe's) or "mobilenet_v2"
    side: int
    inputs: tuple[str, ...]
    batching_goal: float  # gRPC requests/s at 32 clients, batching on ÷ off


DIGITS = Workload("digits MLP", "mlp", 8, ("pixels",), 3.0)
MOBILENET_96 = Workload("MobileNet 96×96", "mobilenet_v2", 96, ("pixels", "JPEG"), 2.0)
MOBILENET_224 = dataclasses.replace(MOBILENET_96, name="MobileNet 224×224", side=224)
# size → (seconds per cell, rounds, seconds per in-process batch size, workloads)
SIZES = {
    "smoke": (0.3, 1, 0.1, (DIGITS, MOBILENET_96)),
    "quick": (1.5, 1, 0.5, (DIGITS, MOBILENET_96)),
    "full": (4.0, 2, 2.0, (DIGITS, MOBILENET_96, MOBILENET_224)),
}
GRPC_GOAL_MS, REST_GOAL_MS = 1.0, 2.0  # p50 over the in-process run, one client
COLUMNS = ["model", "input", "protocol", "batching", "clients", "p50 ms", "p99 ms", "requests/s"]
COLUMNS += ["server CPU ms/request", "client CPU ms/request"]
BATCHING = ["model", *(f.name for f in dataclasses.fields(BatchingParameters))]


def photo_jpeg(side: int) -> bytes:
    """A photo-like JPEG (smooth gradients, mild noise) of side × side, quality 90."""
    rng = np.random.default_rng(side)
    ramp = np.linspace(0, 1, side)
    smooth = np.stack([np.outer(ramp, 1 - ramp), np.outer(1 - ramp, ramp), np.outer(ramp, ramp)])
    pixels = smooth.transpose(1, 2, 0) * 200 + rng.normal(0, 12, (side, side, 3)) + 20
    stream = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(stream, "JPEG", quality=90)
    return stream.getvalue()


def export_model(base: Path, w: Workload) -> tuple[Path, dict[str, Input]]:
    """The untrained model exported under `base`: its version folder and what clients send."""
    config = Config(export=ExportConfig(model_name=MODEL))
    shape, pixel_max = (8, 8, 1), 16.0
    if w.network == "mobilenet_v2":
        config.model = ModelConfig(name="mobilenet_v2", alpha=0.35)
        config.data.source = "images:/nowhere"  # an image-folder model: its export decodes bytes
        config.data.image_size = [w.side, w.side]
        shape, pixel_max = (w.side, w.side, 3), 255.0
    model = build_model(config.model, RegularizerConfig(kind="none"), shape, 10, pixel_max)
    examples = np.random.default_rng(0).uniform(0, pixel_max, (4, *shape)).astype(np.float32)
    version_dir = saved_model.export_for_serving(
        model, config, examples, export_base=base, version=1
    )
    jpeg = Input(np.array([photo_jpeg(w.side)], dtype=object), *BYTES)
    return version_dir, {"pixels": Input(examples[:1]), "JPEG": jpeg}


def in_process(version_dir: Path, given: Input, sizes, seconds: float) -> dict[int, list[float]]:
    """Batch size → seconds of each run of the signature, run as the server runs it."""
    servable = load_servable(MODEL, 1, str(version_dir))
    signature = servable.signatures[given.signature or saved_model.PREDICT_SIGNATURE]
    feed = signature.inputs[given.name].name
    fetches = [signature.outputs[alias].name for alias in sorted(signature.outputs)]
    times = {}
    for size in sizes:
        batch = np.repeat(given.example, size, axis=0)
        servable.run_now({feed: batch}, fetches)  # warm
        times[size], deadline = [], time.perf_counter() + seconds
        while len(times[size]) < 5 or time.perf_counter() < deadline:
            began = time.perf_counter()
            servable.run_now({feed: batch}, fetches)
            times[size].append(time.perf_counter() - began)
    servable.session.close()
    return times


def serve_cells(version_dir: Path, inputs: dict, batching: Path, size: str) -> dict:
    """(input, protocol, batching, clients) → the cell's samples over the rounds."""
    seconds, rounds = SIZES[size][:2]
    protocols = {"gRPC": (grpc_caller, 1), "REST": (rest_caller, 2)}  # caller, its port's index
    modes = ("off", "on")
    cells = [(k, p, m, c) for k in inputs for p in protocols for m in modes for c in CLIENTS]
    if size == "smoke":  # the cells the figures need
        cells = [c for c in cells if c[3] == 1 or c[:2] == ("pixels", "gRPC")]
    base = version_dir.parent
    with served(base, MODEL, None) as off, served(base, MODEL, batching) as on:
        servers = {"off": off, "on": on}

        def side(kind, protocol, mode, clients):
            server, (caller, port) = servers[mode], protocols[protocol]
            make = lambda: caller(server[port], MODEL, inputs[kind])  # noqa: E731
            return lambda: load(make, clients, seconds, server[0].pid)

        return alternate({cell: side(*cell) for cell in cells}, rounds, warmup=0)


def tuned_batching(base: Path, curve: list[Measurement]) -> tuple[Path, BatchingParameters]:
    """`serving.tune_batching`'s recipe over `curve`, written as a batching parameters file."""
    params = recipe(curve, os.cpu_count() or 1, knee=0.9)
    # Past max_batch_size × max_enqueued_batches TF Serving refuses requests (UNAVAILABLE).
    room = max(params.max_enqueued_batches, -(-MAX_CLIENTS // params.max_batch_size))
    params = dataclasses.replace(params, max_enqueued_batches=room)
    (base / "batching.config").write_text(batching_parameters_text(params))
    return base / "batching.config", params


def cells(*values) -> list[str]:
    """Table cells: floats to 2 decimals, None as —."""
    return ["—" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v) for v in values]


def measure(base: Path, w: Workload, size: str):
    """Rows, figures and the batching parameters' row of one workload."""
    version_dir, inputs = export_model(base, w)
    inputs = {k: inputs[k] for k in w.inputs}
    seconds = SIZES[size][2]  # a batch size of the in-process curve
    local = {
        k: in_process(version_dir, g, BATCH_SIZES if k == "pixels" else (1,), seconds)
        for k, g in inputs.items()
    }
    medians = {b: float(np.median(t)) for b, t in local["pixels"].items()}
    curve = [Measurement(b, m * 1000, b / m) for b, m in medians.items()]
    batching, params = tuned_batching(base, curve)
    samples = serve_cells(version_dir, inputs, batching, size)
    rows, cell = [], {}
    for kind, runs in local.items():
        for b, t in runs.items():
            ms, p99 = np.median(t) * 1000, np.percentile(t, 99) * 1000 if b == 1 else None
            label, rate = f"in-process, batch {b}", round(1000 * b / ms)
            rows.append(cells(w.name, kind, label, None, 1, ms, p99, rate, None, None))
    for key, s in samples.items():
        p50, p99 = (np.median([np.percentile(c.latencies, q) for c in s.values]) for q in (50, 99))
        p50, p99, rate = float(p50) * 1000, float(p99) * 1000, s.median_of("rate")
        cell[key] = (p50, p99, rate)
        cpu = (s.median_of(a) * 1e3 for a in ("server_cpu", "client_cpu"))
        rows.append(cells(w.name, *key, p50, p99, round(rate), *cpu))
    on, off = cell["pixels", "gRPC", "on", MAX_CLIENTS], cell["pixels", "gRPC", "off", MAX_CLIENTS]
    at = f"{w.name} gRPC at {MAX_CLIENTS} clients, batching on"
    ceiling = on[2] / curve[-1].examples_per_second  # the in-process batch-32 examples/s
    figures = [Figure(f"{at}: requests/s ÷ batching off", on[2] / off[2], "×", w.batching_goal)]
    goals = {"gRPC": GRPC_GOAL_MS}
    if w.network == "mobilenet_v2":  # a model whose run outweighs the server's own work
        goals["REST"] = REST_GOAL_MS
        figures.append(Figure(f"{at}: requests/s ÷ in-process batch-32", ceiling, "×", 0.8))
        figures.append(Figure(f"{at}: p99 ÷ batching off", on[1] / off[1], "×", 1.0, False))
    for kind in inputs:
        for protocol, goal in goals.items():
            overhead = cell[kind, protocol, "off", 1][0] - np.median(local[kind][1]) * 1000
            measure = f"{w.name} {kind} {protocol} p50 − in-process p50, 1 client, batching off"
            figures.append(Figure(measure, max(overhead, 1e-3), "ms", goal, False))
    return rows, figures, [[w.name, *dataclasses.astuple(params)]]


def run(size: str = "full") -> Result:
    seconds, rounds, _, workloads = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        measured = [measure(Path(tmp) / str(i), w, size) for i, w in enumerate(workloads)]
    rows, figures, batching = (sum(lists, []) for lists in zip(*measured, strict=True))
    tables = [Table(COLUMNS, rows), Table(BATCHING, batching)]
    method = f"{seconds:g} s a cell, {rounds} round(s), the cells alternating; medians over rounds."
    title = "Serving: local server (gRPC, REST) vs in-process, batching off and on"
    return Result("serving_speed", title, method, tables, figures)
