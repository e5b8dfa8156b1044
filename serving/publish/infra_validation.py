"""Infra validation, as TFX's InfraValidator: a candidate export must load in a real model server
and answer its own warmup requests before it may be published.

The server runs as a separate process speaking TF Serving's flags and gRPC API: the project's
local server (`python -m serving.server`, the default) or TF Serving itself
(`--infra-server tensorflow_model_server`). It is a process, not the server imported here, since
that is what production runs and what TF Serving's own binary can be. The export's
`assets.extra/tf_serving_warmup_requests` is read by the server's own rule
(`serving.server.core.warmup.read_warmup_requests`) and each request sent over gRPC to the
candidate version; any error, or a server that exits or never reports the version AVAILABLE,
fails the validation.
"""

from __future__ import annotations

import dataclasses
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.server.core.warmup import WARMUP_FILE, read_warmup_requests
from serving.server.status import ServingError

LOCAL_SERVER = f"{shlex.quote(sys.executable)} -m serving.server"
READY_TIMEOUT_SECONDS = 180.0
REQUEST_TIMEOUT_SECONDS = 60.0
_AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


@dataclasses.dataclass(frozen=True)
class InfraResult:
    """Whether the candidate served its warmup records, how many, and the first error."""

    passed: bool
    records: int
    error: str | None = None


def validate_in_server(
    model_dir: Path, model_name: str, version: int, server_command: str = LOCAL_SERVER
) -> InfraResult:
    """Serves `model_dir` (holding `<version>/`) in a fresh server and replays its warmup."""
    port = _free_port()
    command = shlex.split(server_command) + [
        f"--port={port}",
        f"--model_name={model_name}",
        f"--model_base_path={model_dir.resolve()}",
        "--max_num_load_retries=0",  # a candidate that fails to load fails now, not after retries
    ]
    with tempfile.TemporaryFile("w+") as server_log:
        try:
            process = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT)
        except OSError as error:
            return InfraResult(False, 0, f"cannot start {command[0]!r}: {error.strerror}")
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                error = _await_available(channel, process, server_log, model_name, version)
                if error:
                    return InfraResult(False, 0, error)
                return _replay_warmup(channel, model_dir / str(version), model_name, version)
        finally:
            _stop(process)


def _await_available(channel, process, server_log, name: str, version: int) -> str | None:
    """None once the version is AVAILABLE; else why not (the server's last words if it died)."""
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    request.model_spec.version.value = version
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server_log.seek(0)
            last = server_log.read().strip().splitlines()[-3:]
            return f"the server exited ({process.returncode}) while loading: {' | '.join(last)}"
        try:
            statuses = stub.GetModelStatus(request, timeout=2).model_version_status
            if statuses and statuses[0].state == _AVAILABLE:
                return None
        except grpc.RpcError:
            pass  # not listening yet, or still loading
        time.sleep(0.2)
    return f"version {version} was not AVAILABLE after {READY_TIMEOUT_SECONDS:.0f} s"


def _replay_warmup(channel, version_dir: Path, name: str, version: int) -> InfraResult:
    """Sends every warmup request to the served version; stops at the first failure."""
    path = version_dir / WARMUP_FILE
    if not path.is_file():
        return InfraResult(False, 0, f"no warmup records at {path}: nothing proves it serves")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    count = 0
    try:
        for method, request in read_warmup_requests(str(path)):
            for spec in _model_specs(request):
                spec.name = name
                spec.version.value = version
            getattr(stub, method)(request, timeout=REQUEST_TIMEOUT_SECONDS)
            count += 1
    except ServingError as error:  # the file itself, by the server's rule
        return InfraResult(False, count, f"warmup record {count}: {error.message}")
    except grpc.RpcError as error:
        return InfraResult(
            False, count, f"warmup record {count}: {error.code().name}: {error.details()}"
        )
    return InfraResult(count > 0, count, None if count else f"{path} holds no records")


def _model_specs(request) -> list:
    """The ModelSpecs a request names (one, or one per MultiInference task)."""
    if hasattr(request, "tasks"):
        return [task.model_spec for task in request.tasks]
    return [request.model_spec]


def _free_port() -> int:
    """A TCP port free right now on 127.0.0.1, for the server process to listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
