"""The serving benchmarks' two ends: `served` (the model server on free ports), callers over gRPC
and REST, and `load`: client threads (each its own connection) calling back to back.
"""

import base64
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from benchmarks.harness import FRESH_ENV
from tfmodel.backend import tf

MAX_CLIENTS = 32  # the server's REST threads: a pooled thread serves one connection at a time


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(base: Path, model: str, batching: Path | None) -> Iterator[tuple]:
    """`python -m serving.server` of `base` on free ports, once it answers: (process, ports)."""
    grpc_port, rest_port = free_port(), free_port()
    command = [sys.executable, "-m", "serving.server", f"--port={grpc_port}"]
    command += [f"--rest_api_port={rest_port}", f"--model_name={model}"]
    command += [f"--model_base_path={base}", f"--rest_api_num_threads={MAX_CLIENTS}"]
    if batching:
        command += ["--enable_batching", f"--batching_parameters_file={batching}"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen(command, env=FRESH_ENV, **quiet)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=1)
            connection.request("GET", f"/v1/models/{model}")
            if connection.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    try:
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the server did not answer within 120 s: {' '.join(command)}")
        yield process, grpc_port, rest_port
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Input:
    """A batch of one (pixels, or encoded images as objects) for input `name` of `signature`."""

    example: np.ndarray
    name: str = "pixels"
    signature: str = ""


def grpc_caller(port: int, model: str, given: Input) -> Callable[[], None]:
    """One Predict call over its own channel, request built once."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = given.signature
    request.inputs[given.name].CopyFrom(tf.make_tensor_proto(given.example))
    return lambda: stub.Predict(request, timeout=30)


def rest_caller(port: int, model: str, given: Input) -> Callable[[], None]:
    """One REST predict over its own keep-alive connection, body built once (bytes as b64)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    instances = given.example.tolist()
    if given.example.dtype == object:
        instances = [{"b64": base64.b64encode(item).decode("ascii")} for item in given.example]
    body = json.dumps({"instances": instances, "signature_name": given.signature})

    def call() -> None:
        connection.request("POST", f"/v1/models/{model}:predict", body)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"REST predict answered {response.status}")

    return call


@dataclass
class Cell:
    """One run's latencies (s), requests/s, and server and client CPU seconds per request."""

    latencies: list[float]
    rate: float
    server_cpu: float
    client_cpu: float


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from Linux's /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(make_call: Callable, clients: int, seconds: float, server_pid: int) -> Cell:
    """`clients` threads, each with its own `make_call()`, calling back to back for `seconds`."""
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
    server_began, client_began = process_cpu_seconds(server_pid), time.process_time()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    server_cpu = process_cpu_seconds(server_pid) - server_began
    client_cpu = time.process_time() - client_began
    every = [t for mine in latencies for t in mine]
    count = max(len(every), 1)
    return Cell(every, len(every) / elapsed, server_cpu / count, client_cpu / count)
