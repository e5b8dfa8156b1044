"""Latency and throughput of the local model server, gRPC Predict and REST, against calling the
same SavedModel in-process, with server-side batching off and on.

    python -m benchmarks.serving_speed           # ~2 min on 2 cores; prints the table and
                                                 # rewrites its section of benchmarks/RESULTS.md
    python -m benchmarks.serving_speed --quick   # ~1 min; prints only

The digits MLP (untrained: latency does not depend on the weights) is exported with the training
export's signatures and served by two `python -m serving.server` processes, one without batching
and one with TF Serving's CPU recipe: `num_batch_threads` = cores, `max_enqueued_batches` = batch
threads, `max_batch_size` 32, a 1 ms `batch_timeout_micros`. Clients are threads of this process,
each with its own gRPC channel or keep-alive HTTP connection, sending one example per request
back to back for a fixed time; the servers and client counts take turns in rotating order.
Beside latency, each cell reports the CPU time the server process and this (client) process
spent per request (Linux /proc), which other jobs on the machine do not inflate. The in-process
baseline runs the same SavedModel the way the server does (a Session callable), one example per
call. Goals: at one client, gRPC p50 at most 1 ms over the in-process p50; at 32 clients,
batching on answers at least 3× the requests/s of batching off.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from benchmarks.serving_load import Cell, Input, Medians, grpc_caller, load, rest_caller
from edge.device.benchmark import measure_latency
from serving.server.servables.servable import load_servable
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.export.saved_model import PREDICT_SIGNATURE, save_signatures
from tfmodel.models import build_model

SECTION = "## Serving: local server (gRPC, REST) vs in-process, batching off and on"
REPO = Path(__file__).resolve().parents[1]
MODEL = "digits"
CLIENTS = (1, 8, 32)
# size → (seconds per (server, protocol, clients) cell, rounds)
SIZES = {"smoke": (0.3, 1), "quick": (1.0, 1), "full": (3.0, 3)}
OVERHEAD_GOAL_MS = 1.0
IN_PROCESS_WARMUP = 20
BATCHING_GOAL = 3.0
WHY_OVERHEAD = (
    "the Session run is ~60-80 µs of a request; the rest is Python under the server's one GIL "
    "(grpcio's synchronous server loop and thread hand-offs ~70%, protobuf ↔ numpy, signature "
    "checks and metrics ~15%; see the serving section). Closing it needs the per-request work "
    "out of Python threads: TF Serving's C++ server, or one grpc.aio event loop"
)
WHY_BATCHING = (
    "batching merges only the Session run, which releases the GIL anyway, while each request's "
    "Python work cannot be merged and the batch queue adds hand-offs; it pays where the model's "
    "run is several times the ~1 ms per-request cost (a larger model), or behind a C++ front end"
)
BATCHING_FILE = """max_batch_size {{ value: 32 }}
batch_timeout_micros {{ value: 1000 }}
num_batch_threads {{ value: {threads} }}
max_enqueued_batches {{ value: {threads} }}
"""
COLUMNS = [
    "protocol",
    "batching",
    "clients",
    "p50 ms",
    "p99 ms",
    "requests/s",
    "server CPU µs/request",
    "client CPU µs/request",
]


def export_model(base: Path) -> np.ndarray:
    """The digits MLP as version 1 under `base`; returns one example to send."""
    splits = load_splits(DataConfig(), seed=0)
    model = build_model(ModelConfig(), RegularizerConfig(), splits.input_shape, 10, 16.0)
    save_signatures(model, "pixels", splits.class_names, base / "1")
    return splits.x_test[:1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    base: Path, batching: Path | None, model: str = MODEL
) -> tuple[subprocess.Popen, int, int]:
    """`python -m serving.server` on free ports, once its REST port answers."""
    grpc_port, rest_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "serving.server",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model}",
        f"--model_base_path={base}",
        # a pooled thread serves one keep-alive connection at a time: one thread per client
        f"--rest_api_num_threads={max(CLIENTS)}",
    ]
    if batching:
        command += ["--enable_batching", f"--batching_parameters_file={batching}"]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=1)
            connection.request("GET", f"/v1/models/{model}")
            if connection.getresponse().status == 200:
                return process, grpc_port, rest_port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer within 120 s: {' '.join(command)}")


def in_process_ms(base: Path, example: np.ndarray, runs: int) -> tuple[float, float, float]:
    """p50, p99 ms of the SavedModel run as the server runs it, in this process, and its CPU
    µs per call."""
    servable = load_servable(MODEL, 1, str(base / "1"))
    signature = servable.signatures[PREDICT_SIGNATURE]
    feed = signature.inputs["pixels"].name
    fetches = [signature.outputs[alias].name for alias in sorted(signature.outputs)]
    began = time.thread_time()  # ops run on the calling thread (servable.CALLER_THREAD)
    latency = measure_latency(
        lambda x: servable.run_now({feed: x}, fetches), example[0], runs, IN_PROCESS_WARMUP
    )
    cpu_us = (time.thread_time() - began) / (runs + IN_PROCESS_WARMUP) * 1e6
    servable.session.close()
    return latency.p50_ms, latency.p99_ms, cpu_us


def run(size: str = "full") -> Section:
    """Both servers, both protocols, every client count: the section and the two goals."""
    check_size(size)
    seconds, rounds = SIZES[size]
    threads = os.cpu_count() or 1
    cells: dict[tuple[str, str, int], list[Cell]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / MODEL
        example = export_model(base)
        batching = Path(tmp) / "batching.config"
        batching.write_text(BATCHING_FILE.format(threads=threads))
        servers = {"off": start_server(base, None), "on": start_server(base, batching)}
        try:
            plan = [
                (protocol, mode, clients)
                for protocol in ("gRPC", "REST")
                for mode in servers
                for clients in CLIENTS
            ]
            for r in range(rounds):
                for protocol, mode, clients in plan[r % len(plan) :] + plan[: r % len(plan)]:
                    process, grpc_port, rest_port = servers[mode]
                    if protocol == "gRPC":
                        make = lambda p=grpc_port: grpc_caller(p, MODEL, Input(example))  # noqa: E731
                    else:
                        make = lambda p=rest_port: rest_caller(p, MODEL, Input(example))  # noqa: E731
                    cells.setdefault((protocol, mode, clients), []).append(
                        load(make, clients, seconds, process.pid)
                    )
        finally:
            for process, _, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
        local = in_process_ms(base, example, 200 if size == "smoke" else 2000)
    rows = [
        [
            "in-process Session run",
            "—",
            "1",
            f"{local[0]:.3f}",
            f"{local[1]:.3f}",
            f"{1000 / local[0]:.0f}",
            "—",
            f"{local[2]:.0f}",
        ]
    ]
    summary: dict[tuple[str, str, int], Medians] = {}
    for (protocol, mode, clients), samples in cells.items():
        summary[protocol, mode, clients] = cell = Medians(
            *(
                statistics.median(np.percentile(s.latencies, q) * 1000 for s in samples)
                for q in (50, 99)
            ),
            *(
                statistics.median(getattr(s, name) for s in samples)
                for name in ("rate", "server_cpu", "client_cpu")
            ),
        )
        rows.append(
            [
                protocol,
                mode,
                str(clients),
                f"{cell.p50_ms:.3f}",
                f"{cell.p99_ms:.3f}",
                f"{cell.rate:.0f}",
                f"{cell.server_cpu * 1e6:.0f}",
                f"{cell.client_cpu * 1e6:.0f}",
            ]
        )
    table = markdown_table(COLUMNS, rows)
    text = section_text(
        SECTION,
        "`python -m benchmarks.serving_speed` — one digits example per request, clients back "
        f"to back for {seconds:g} s a cell, {rounds} round(s), cells in rotating order; "
        "p50/p99 and requests/s are medians over the rounds. Batching: max_batch_size 32, "
        f"batch_timeout_micros 1000, num_batch_threads = max_enqueued_batches = {threads}. "
        "In-process: the same SavedModel's Session callable, as the server runs it. Clients "
        "and servers share the machine's cores.",
        table,
        where_the_time_goes(summary, local[2]),
    )
    overhead = summary["gRPC", "off", 1].p50_ms - local[0]
    speedup = summary["gRPC", "on", 32].rate / summary["gRPC", "off", 32].rate
    figures = [
        Figure(
            "serving",
            "gRPC p50 − in-process p50, 1 client, batching off",
            max(overhead, 1e-3),
            "ms",
            OVERHEAD_GOAL_MS,
            at_least=False,
            why=WHY_OVERHEAD,
        ),
        Figure(
            "serving",
            "gRPC requests/s at 32 clients, batching on ÷ off",
            speedup,
            "×",
            BATCHING_GOAL,
            why=WHY_BATCHING,
        ),
    ]
    return Section(SECTION, text, table, figures)


def where_the_time_goes(summary: dict[tuple[str, str, int], Medians], run_us: float) -> str:
    """The note under the table: the measured CPU split, and why the goals are (not) met."""
    one, off, on = summary["gRPC", "off", 1], summary["gRPC", "off", 32], summary["gRPC", "on", 32]
    return (
        f"Where the time goes. At one client a gRPC Predict costs the server "
        f"{one.server_cpu * 1e6:.0f} µs of CPU and the client {one.client_cpu * 1e6:.0f} µs; "
        f"the Session run is {run_us:.0f} µs of it. The rest is Python, paid per request: "
        "grpcio's synchronous server (its completion-queue loop `_serve`, the hand-off to a "
        "pool thread and back: about 70% of the server's GIL-holding time at 32 clients in one "
        "`py-spy record --gil` of this benchmark) and our request handling (protobuf ↔ numpy, "
        "signature checks, metrics: about 15%). At 32 clients without batching the server "
        f"process uses {off.server_cpu * off.rate:.2f} cores and the client process "
        f"{off.client_cpu * off.rate:.2f}: the server's single GIL saturates first, not the "
        "client threads. With batching it spends "
        f"{on.server_cpu * 1e6:.0f} µs of CPU per request against {off.server_cpu * 1e6:.0f} "
        "µs without: the only work batching merges is the Session run, which releases the GIL, "
        "so merging it barely changes a GIL-bound server's requests/s; it adds the queue's "
        "hand-offs and, below a full batch, the 1 ms timeout (a lone request waits for it, as in "
        "TF Serving), whose timed wait alone costs ~150 µs of CPU in Python's thread wake-ups. "
        "More gRPC threads (32 instead of the default 4 per core) made both servers slower in "
        "a trial (more GIL contention). What would close the gaps (not measured here): batching "
        "pays once the run dominates the request (a model whose run per example is several times "
        "the ~1 ms per-request cost); the 1 ms overhead and the throughput need the per-request "
        "work out of Python threads — TF Serving's C++ server, or grpc.aio's single event loop "
        "without thread hand-offs."
    )


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("serving_speed", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
