"""The client's transports against stand-in servers: retries, deadlines, errors, TLS and mTLS.

The stand-ins are a real gRPC server with a canned ModelService and a real HTTP(S) server with
canned `/v1/models/...` answers, so these tests need no model and no serving stack.
"""

import http.server
import json
import shutil
import ssl
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest
from ports import free_port
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from serving.client import ServingClient
from serving.client import cli as client_cli
from serving.client.errors import RemoteError, UsageError
from serving.client.transport import RetryPolicy, TlsFiles, call_with_retry

FAST_RETRY = RetryPolicy(attempts=10, initial=0.05, maximum=0.3)
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


class CannedModelService(model_service_pb2_grpc.ModelServiceServicer):
    """Knows one model, `digits`, version 1, AVAILABLE; anything else is NOT_FOUND."""

    def GetModelStatus(self, request, context):
        if request.model_spec.name != "digits":
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Latest({request.model_spec.name})",
            )
        status = get_model_status_pb2.ModelVersionStatus(version=1, state=AVAILABLE)
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=[status])


def start_grpc(port: int, credentials=None) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(CannedModelService(), server)
    address = f"127.0.0.1:{port}"
    if credentials is None:
        server.add_insecure_port(address)
    else:
        server.add_secure_port(address, credentials)
    server.start()
    return server


@pytest.fixture
def grpc_port():
    port = free_port()
    server = start_grpc(port)
    yield port
    server.stop(grace=None)


def test_retry_sleeps_exponentially_up_to_the_cap_then_succeeds():
    failures = iter([RemoteError("UNAVAILABLE", "down")] * 4)
    sleeps = []

    def call():
        error = next(failures, None)
        if error:
            raise error
        return "answer"

    policy = RetryPolicy(attempts=5, initial=0.1, maximum=0.3)
    assert call_with_retry(call, policy, sleep=sleeps.append) == "answer"
    assert sleeps == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_retry_is_bounded_and_only_for_unavailable():
    calls = []

    def down():
        calls.append(1)
        raise RemoteError("UNAVAILABLE", "down")

    with pytest.raises(RemoteError, match="UNAVAILABLE"):
        call_with_retry(down, RetryPolicy(attempts=3), sleep=lambda _: None)
    assert len(calls) == 3

    def not_found():
        calls.append(1)
        raise RemoteError("NOT_FOUND", "no such model")

    calls.clear()
    with pytest.raises(RemoteError, match="NOT_FOUND"):
        call_with_retry(not_found, RetryPolicy(attempts=3), sleep=lambda _: None)
    assert len(calls) == 1


def test_grpc_status_and_not_found_message(grpc_port):
    with ServingClient(f"127.0.0.1:{grpc_port}", "digits", retry=FAST_RETRY) as client:
        assert [(s.version, s.state, s.error_code) for s in client.status()] == [
            (1, "AVAILABLE", "OK")
        ]
    with ServingClient(f"127.0.0.1:{grpc_port}", "nope") as client:
        with pytest.raises(RemoteError) as caught:
            client.status()
    assert caught.value.code == "NOT_FOUND"
    assert str(caught.value) == "NOT_FOUND: Servable not found for request: Latest(nope)"


def test_grpc_retries_until_a_late_server_comes_up():
    port = free_port()
    servers = []
    timer = threading.Timer(0.6, lambda: servers.append(start_grpc(port)))
    timer.start()
    try:
        started = time.monotonic()
        with ServingClient(f"127.0.0.1:{port}", "digits", retry=FAST_RETRY) as client:
            states = [s.state for s in client.status()]
        assert states == ["AVAILABLE"]
        assert time.monotonic() - started >= 0.5
    finally:
        timer.join()
        for server in servers:
            server.stop(grace=None)


def test_cli_exit_codes(grpc_port, capsys):
    closed = free_port()
    args = ["--model", "digits", "--retries", "1", "--timeout", "5"]
    assert client_cli.main(["status", "--server", f"127.0.0.1:{grpc_port}", *args]) == 0
    assert "version 1: AVAILABLE OK" in capsys.readouterr().out
    assert client_cli.main(["status", "--server", f"127.0.0.1:{closed}", *args]) == 1
    assert "server error: UNAVAILABLE" in capsys.readouterr().err
    unknown = ["status", "--server", f"127.0.0.1:{grpc_port}", "--model", "nope"]
    assert client_cli.main(unknown) == 1
    assert "NOT_FOUND: Servable not found" in capsys.readouterr().err
    assert client_cli.main(["predict", "--server", f"127.0.0.1:{grpc_port}", *args]) == 2
    assert "needs --input" in capsys.readouterr().err


@pytest.mark.parametrize("rest", [False, True])
def test_local_inputs_are_checked_before_the_network_and_a_closed_port_is_named(
    rest, tmp_path, capsys
):
    closed = f"127.0.0.1:{free_port()}"
    call = ["--server", closed, "--model", "digits", "--retries", "1", *(["--rest"] * rest)]
    missing = tmp_path / "missing.npy"
    for command in ("predict", "classify", "regress"):
        assert client_cli.main([command, *call, "--input", f"pixels={missing}"]) == 2
        assert capsys.readouterr().err == f"error: input file {missing} does not exist\n"
    assert client_cli.main(["status", *call]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"server error: UNAVAILABLE: cannot reach {closed}: is a server running")
    assert "onnection refused" in err  # the transport's own words follow


class CannedRestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's answers to GET /v1/models/digits (status) and to unknown models."""

    def do_GET(self):
        if self.path == "/v1/models/digits":
            code, body = 200, {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}
        else:
            code, body = 404, {"error": "Servable not found for request: Latest(nope)"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server():
    """Starts a canned REST server; `start(context)` wraps it in TLS when given an SSLContext."""
    servers = []

    def start(context=None):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CannedRestHandler)
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_rest_status_and_http_errors(rest_server):
    address = rest_server()
    with ServingClient(address, "digits", rest=True) as client:
        assert [(s.version, s.state) for s in client.status()] == [(1, "AVAILABLE")]
    with ServingClient(address, "nope", rest=True) as client:
        with pytest.raises(RemoteError) as caught:
            client.status()
    assert (caught.value.code, caught.value.http_status) == ("NOT_FOUND", 404)
    assert caught.value.details == "Servable not found for request: Latest(nope)"


def test_rest_unreachable_is_unavailable_after_retries():
    retry = RetryPolicy(attempts=2, initial=0.01)
    with ServingClient(f"127.0.0.1:{free_port()}", "digits", rest=True, retry=retry) as client:
        with pytest.raises(RemoteError, match="UNAVAILABLE"):
            client.status()


def make_certificate(folder, name):
    """A self-signed EC certificate for 127.0.0.1 (its own CA), made with the openssl CLI."""
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", f"/CN={name}", "-keyout", key, "-out", cert]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


@needs_openssl
def test_grpc_mutual_tls(tmp_path):
    server_key, server_cert = make_certificate(tmp_path, "server")
    client_key, client_cert = make_certificate(tmp_path, "client")
    credentials = grpc.ssl_server_credentials(
        [(server_key.read_bytes(), server_cert.read_bytes())],
        root_certificates=client_cert.read_bytes(),
        require_client_auth=True,
    )
    port = free_port()
    server = start_grpc(port, credentials)
    address = f"127.0.0.1:{port}"
    try:
        tls = TlsFiles(server_cert, client_cert, client_key)
        with ServingClient(address, "digits", tls=tls) as client:
            assert [s.state for s in client.status()] == ["AVAILABLE"]
        once = RetryPolicy(attempts=1)
        with ServingClient(address, "digits", tls=TlsFiles(server_cert), retry=once) as client:
            with pytest.raises(RemoteError):
                client.status()  # the server demands a client certificate
        with ServingClient(address, "digits", retry=once) as client:
            with pytest.raises(RemoteError, match="UNAVAILABLE"):
                client.status()  # plaintext to a TLS port
    finally:
        server.stop(grace=None)


@needs_openssl
def test_rest_mutual_tls(tmp_path, rest_server):
    server_key, server_cert = make_certificate(tmp_path, "server")
    client_key, client_cert = make_certificate(tmp_path, "client")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_cert)
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    address = rest_server(context)
    tls = TlsFiles(server_cert, client_cert, client_key)
    with ServingClient(address, "digits", rest=True, tls=tls) as client:
        assert [s.state for s in client.status()] == ["AVAILABLE"]


def test_tls_files_are_checked(tmp_path):
    with pytest.raises(UsageError, match="both --client-cert and --client-key"):
        TlsFiles(client_cert=tmp_path / "c.pem").read()
    with pytest.raises(UsageError, match="does not exist"):
        TlsFiles(root_cert=tmp_path / "missing.pem").read()
