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
back to back for a fixed time; the servers and client counts take turns in rotating order. The
in-process baseline runs the same SavedModel the way the server does (a Session callable), one
example per call. Goals: at one client, gRPC p50 at most 1 ms over the in-process p50; at 32
clients, batching on answers at least 3× the requests/s of batching off.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from benchmarks.results import (
    SHARED_NOTE,
    Figure,
    Section,
    check_size,
    describe_machine,
    markdown_table,
    quick_or_full_main,
)
from edge.benchmark import measure_latency
from serving.server.servable import load_servable
from tfmodel.backend import tf
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.export import PREDICT_SIGNATURE, save_signatures
from tfmodel.models import build_model

SECTION = "## Serving: local server (gRPC, REST) vs in-process, batching off and on"
REPO = Path(__file__).resolve().parents[1]
MODEL = "digits"
CLIENTS = (1, 8, 32)
# size → (seconds per (server, protocol, clients) cell, rounds)
SIZES = {"smoke": (0.3, 1), "quick": (1.5, 1), "full": (3.0, 3)}
OVERHEAD_GOAL_MS = 1.0
BATCHING_GOAL = 3.0
BATCHING_FILE = """max_batch_size {{ value: 32 }}
batch_timeout_micros {{ value: 1000 }}
num_batch_threads {{ value: {threads} }}
max_enqueued_batches {{ value: {threads} }}
"""
COLUMNS = ["protocol", "batching", "clients", "p50 ms", "p99 ms", "requests/s"]


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


def start_server(base: Path, batching: Path | None) -> tuple[subprocess.Popen, int, int]:
    """`python -m serving.server` on free ports, once its REST port answers."""
    grpc_port, rest_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "serving.server", f"--port={grpc_port}",
        f"--rest_api_port={rest_port}", f"--model_name={MODEL}", f"--model_base_path={base}",
        # a pooled thread serves one keep-alive connection at a time: one thread per client
        f"--rest_api_num_threads={max(CLIENTS)}",
    ]  # fmt: skip
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
            connection.request("GET", f"/v1/models/{MODEL}")
            if connection.getresponse().status == 200:
                return process, grpc_port, rest_port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer within 120 s: {' '.join(command)}")


def grpc_caller(port: int, example: np.ndarray) -> Callable[[], None]:
    """One Predict call over its own channel, request built once."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{port}")
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(example))
    return lambda: stub.Predict(request, timeout=30)


def rest_caller(port: int, example: np.ndarray) -> Callable[[], None]:
    """One REST predict over its own keep-alive connection, body built once."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"instances": example.tolist()})
    path = f"/v1/models/{MODEL}:predict"

    def call() -> None:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"REST predict answered {response.status}")

    return call


def load(make_call: Callable[[], Callable[[], None]], clients: int, seconds: float) -> list[float]:
    """`clients` threads calling back to back for `seconds`: every call's latency (seconds),
    then requests/s as the last element."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    calls = [make_call() for _ in range(clients)]
    for call in calls:
        call()  # connect and warm up outside the timed window
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client(index: int) -> None:
        call, mine = calls[index], latencies[index]
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            call()
            mine.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [t for mine in latencies for t in mine]
    return [*every, len(every) / elapsed]


def in_process_ms(base: Path, example: np.ndarray, runs: int) -> tuple[float, float]:
    """p50, p99 ms of the SavedModel run as the server runs it, in this process."""
    servable = load_servable(MODEL, 1, str(base / "1"))
    signature = servable.signatures[PREDICT_SIGNATURE]
    feed = signature.inputs["pixels"].name
    fetches = [signature.outputs[alias].name for alias in sorted(signature.outputs)]
    latency = measure_latency(lambda x: servable.run_now({feed: x}, fetches), example[0], runs)
    servable.session.close()
    return latency.p50_ms, latency.p99_ms


def run(size: str = "full") -> Section:
    """Both servers, both protocols, every client count: the section and the two goals."""
    check_size(size)
    seconds, rounds = SIZES[size]
    threads = os.cpu_count() or 1
    cells: dict[tuple[str, str, int], list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / MODEL
        example = export_model(base)
        batching = Path(tmp) / "batching.config"
        batching.write_text(BATCHING_FILE.format(threads=threads))
        servers = {"off": start_server(base, None), "on": start_server(base, batching)}
        try:
            plan = [
                (protocol, mode, clients)
                for protocol in ("gRPC", "REST") for mode in servers for clients in CLIENTS
            ]  # fmt: skip
            for r in range(rounds):
                for protocol, mode, clients in plan[r % len(plan) :] + plan[: r % len(plan)]:
                    _, grpc_port, rest_port = servers[mode]
                    if protocol == "gRPC":
                        make = lambda p=grpc_port: grpc_caller(p, example)  # noqa: E731
                    else:
                        make = lambda p=rest_port: rest_caller(p, example)  # noqa: E731
                    cells.setdefault((protocol, mode, clients), []).append(
                        load(make, clients, seconds)
                    )
        finally:
            for process, _, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
        local_p50, local_p99 = in_process_ms(base, example, 200 if size == "smoke" else 2000)
    rows, summary = [["in-process Session run", "—", "1", f"{local_p50:.3f}", f"{local_p99:.3f}",
                      f"{1000 / local_p50:.0f}"]], {}  # fmt: skip
    for (protocol, mode, clients), samples in cells.items():
        p50 = statistics.median(np.percentile(s[:-1], 50) * 1000 for s in samples)
        p99 = statistics.median(np.percentile(s[:-1], 99) * 1000 for s in samples)
        rate = statistics.median(s[-1] for s in samples)
        summary[protocol, mode, clients] = (p50, rate)
        rows.append([protocol, mode, str(clients), f"{p50:.3f}", f"{p99:.3f}", f"{rate:.0f}"])
    table = markdown_table(COLUMNS, rows)
    text = "\n".join([
        SECTION, "",
        "`python -m benchmarks.serving_speed` — one digits example per request, clients back "
        f"to back for {seconds:g} s a cell, {rounds} round(s), cells in rotating order; p50/p99 "
        "and requests/s are medians over the rounds. Batching: max_batch_size 32, "
        f"batch_timeout_micros 1000, num_batch_threads = max_enqueued_batches = {threads}. "
        "In-process: the same SavedModel's Session callable, as the server runs it. Clients "
        f"and servers share the machine's cores. {describe_machine()}; {SHARED_NOTE}.", "",
        table, "",
    ])  # fmt: skip
    overhead = summary["gRPC", "off", 1][0] - local_p50
    speedup = summary["gRPC", "on", 32][1] / summary["gRPC", "off", 32][1]
    figures = [
        Figure("serving", "gRPC p50 − in-process p50, 1 client, batching off",
               max(overhead, 1e-3), "ms", OVERHEAD_GOAL_MS, at_least=False),
        Figure("serving", "gRPC requests/s at 32 clients, batching on ÷ off", speedup, "×",
               BATCHING_GOAL),
    ]  # fmt: skip
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main(
        "python -m benchmarks.serving_speed", __doc__.splitlines()[0], SECTION, run, argv
    )


if __name__ == "__main__":
    sys.exit(main())
