"""Serving fixtures: TF Serving's half_plus_two rebuilt, its original test models, local servers.

- `make_half_plus_two(base_path, version, intercept=2.0, warmup=())` writes TF Serving's
  saved_model_half_plus_two (a tf.compat.v1 graph, y = 0.5·x + intercept) as version folder
  `base_path/version` with signatures `serving_default` (x → y), `classify_x_to_y` (scores) and
  `regress_x_to_y` (outputs), and warmup PredictRequests for the given x values.
- `half_plus_two` — a base path holding version 123 of it.
- `tfserving_testdata` — `../shared/tfserving-testdata` (or $TFSERVING_TESTDATA), else skip.
- `local_server(model_base_path=..., model_name="default" | model_config_file=..., **options)` —
  starts an in-process server on free 127.0.0.1 ports (base paths polled and failed loads retried
  every 0.2 s; options are ServerOptions fields, e.g. `enable_grpc_healthcheck_service`, or
  CoreOptions fields) and returns
  `ServerAddress(grpc="127.0.0.1:P", rest="127.0.0.1:Q")`; every server stops at test end.
  `local_server.started[-1]` is the last `ModelServer`.
- `http(address, path, body=None)` — one HTTP request (POST when there is a body, JSON-encoded
  unless bytes) to a server's REST port; returns `(status, text)` whatever the status.
- `server_process(*flags)` — `python -m serving.server` as a subprocess on free ports, ready to
  answer; returns `(Popen, ServerAddress)`; killed at test end if still running
  (`module_server_process`: at the end of the module).
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from ports import free_port

from serving.server.core.server_core import CoreOptions
from serving.server.model_server import ModelServer, ServerOptions
from tfmodel.backend import tf

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared"  # beside the repo, in CI as here
TESTDATA = Path(os.environ.get("TFSERVING_TESTDATA", SHARED / "tfserving-testdata"))
POLL_SECONDS = 0.2


class ServerAddress(NamedTuple):
    grpc: str
    rest: str


def write_half_plus_two(base_path, version: int, intercept: float = 2.0, warmup=()) -> Path:
    """TF Serving's saved_model_half_plus_two, rebuilt as a TF1 graph: y = 0.5 * x + intercept."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = Path(base_path) / str(version)
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        a = tf.compat.v1.Variable(0.5, name="a")
        b = tf.compat.v1.Variable(intercept, name="b")
        serialized = tf.compat.v1.placeholder(tf.string, name="tf_example")
        parsed = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        x = tf.identity(parsed["x"], name="x")  # fed directly by predict, parsed by classify
        y = tf.add(tf.multiply(a, x), b, name="y")
        session.run(tf.compat.v1.global_variables_initializer())
        signatures = {
            "serving_default": tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y}),
            "classify_x_to_y": tf.compat.v1.saved_model.classification_signature_def(
                serialized, None, y
            ),
            "regress_x_to_y": tf.compat.v1.saved_model.regression_signature_def(serialized, y),
        }
        builder = tf.compat.v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
        builder.save()
    if warmup:
        (path / "assets.extra").mkdir()
        with tf.io.TFRecordWriter(str(path / "assets.extra" / "tf_serving_warmup_requests")) as out:
            for value in warmup:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "half_plus_two"
                request.inputs["x"].CopyFrom(tf.make_tensor_proto([[value]], tf.float32))
                log = prediction_log_pb2.PredictionLog()
                log.predict_log.request.CopyFrom(request)
                out.write(log.SerializeToString())
    return path


@pytest.fixture(scope="session")
def make_half_plus_two():
    return write_half_plus_two


@pytest.fixture(scope="session")
def half_plus_two(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("models") / "half_plus_two"
    write_half_plus_two(base, 123)
    return base


@pytest.fixture(scope="session")
def tfserving_testdata() -> Path:
    if not (TESTDATA / "saved_model_half_plus_two_cpu").is_dir():
        pytest.skip(f"TF Serving's test models are not at {TESTDATA}")
    return TESTDATA


class LocalServers:
    """Starts in-process servers on free ports; `stop_all` stops them (the fixture does)."""

    def __init__(self):
        self.started: list[ModelServer] = []

    def __call__(
        self, model_base_path=None, model_name="default", model_config_file=None, **core
    ) -> ServerAddress:
        core.setdefault("file_system_poll_wait_seconds", POLL_SECONDS)
        server_fields = {field.name for field in dataclasses.fields(ServerOptions)}
        server = {name: core.pop(name) for name in list(core) if name in server_fields}
        core.setdefault("load_retry_interval_seconds", POLL_SECONDS)
        options = ServerOptions(
            port=0,
            rest_api_port=0,
            model_name=model_name,
            model_base_path=str(model_base_path or ""),
            model_config_file=str(model_config_file or ""),
            grpc_max_threads=8,
            core=CoreOptions(**core),
            **server,
        )
        server = ModelServer(options).start()
        self.started.append(server)
        return ServerAddress(f"127.0.0.1:{server.grpc_port}", f"127.0.0.1:{server.rest_port}")

    def stop_all(self) -> None:
        for server in self.started:
            server.stop(grace_seconds=0)


@pytest.fixture
def local_server():
    servers = LocalServers()
    yield servers
    servers.stop_all()


def http_request(address: str, path: str, body=None) -> tuple[int, str]:
    """One HTTP request; POST when there is a body. Returns (status, text), errors included."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{address}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="session")
def http():
    return http_request


def wait_until_serving(address: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Waits for the gRPC port to accept connections (the server opens it once models load)."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{process.stderr.read()}")
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                return
            except grpc.FutureTimeoutError:
                continue
    raise AssertionError(f"server at {address} not ready after {timeout} s")


class ServerProcesses:
    """Starts `python -m serving.server` subprocesses on free ports; `stop_all` kills what runs."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []

    def __call__(self, *flags: str, ready: bool = True) -> tuple[subprocess.Popen, ServerAddress]:
        grpc_port, rest_port = free_port(), free_port()
        command = [sys.executable, "-m", "serving.server", f"--port={grpc_port}"]
        command += [f"--rest_api_port={rest_port}", *flags]
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.processes.append(process)
        address = ServerAddress(f"127.0.0.1:{grpc_port}", f"127.0.0.1:{rest_port}")
        if ready:
            wait_until_serving(address.grpc, process)
        return process, address

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


@pytest.fixture
def server_process():
    processes = ServerProcesses()
    yield processes
    processes.stop_all()


@pytest.fixture(scope="module")
def module_server_process():
    """`server_process` for a server shared by the tests of one module."""
    processes = ServerProcesses()
    yield processes
    processes.stop_all()
