"""`--ssl_config_file`: TLS and mutual TLS on the gRPC port (as TF Serving) and the REST port.

Certificates come from `pki` (made with `cryptography` per test module); the client is this
project's `ServingClient`, and its refusals must say which of certificate or host name was wrong.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import secure_server
from pki import make_pki, ssl_config

from serving.client import RemoteError, ServingClient
from serving.client.transport import RetryPolicy, TlsFiles
from serving.errors import UsageError
from serving.server.frontend.tls import read_ssl_config
from serving.server.model_server import ModelServer

MODEL = secure_server.MODEL
start_server = secure_server.start_server  # the fixture, shared by the security tests


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def call(server: ModelServer, rest: bool, tls: TlsFiles | None, host="localhost", **kwargs):
    """y for x = [1, 2] (half_plus_two: 0.5·x + 2) over gRPC or REST, one try, 10 s deadline."""
    port = server.rest_port if rest else server.grpc_port
    retry = RetryPolicy(attempts=1)
    with ServingClient(
        f"{host}:{port}", MODEL, tls=tls, rest=rest, retry=retry, timeout=10, **kwargs
    ) as client:
        return client.predict({"x": np.array([[1.0], [2.0]], np.float32)})["y"]


def refusal(server, rest, tls, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call(server, rest, tls, **kwargs)
    return caught.value


@pytest.fixture
def tls_server(start_server, pki, tmp_path):
    config = ssl_config(tmp_path / "ssl.config", pki.server_cert, pki.server_key, None, False)
    return start_server(ssl_config_file=str(config))


@pytest.fixture
def mtls_server(start_server, pki, tmp_path):
    config = ssl_config(tmp_path / "ssl.config", pki.server_cert, pki.server_key, pki.ca, True)
    return start_server(ssl_config_file=str(config))


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_tls_serves_a_client_trusting_the_ca(tls_server, pki, rest):
    y = call(tls_server, rest, TlsFiles(root_cert=pki.ca))
    np.testing.assert_allclose(y.ravel(), [2.5, 3.0])


def test_plaintext_grpc_to_a_tls_port_fails_cleanly_and_the_port_still_serves(tls_server, pki):
    with grpc.insecure_channel(f"127.0.0.1:{tls_server.grpc_port}") as channel:
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=2)
    error = refusal(tls_server, False, None)
    assert error.code == "UNAVAILABLE" and "pass --root-cert" in error.details
    np.testing.assert_allclose(
        call(tls_server, False, TlsFiles(root_cert=pki.ca)).ravel(), [2.5, 3]
    )


def test_plaintext_http_to_a_tls_port_is_told_to_use_https(tls_server, pki):
    url = f"http://127.0.0.1:{tls_server.rest_port}/v1/models/{MODEL}"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 400 and b"use https://" in caught.value.read()
    np.testing.assert_allclose(call(tls_server, True, TlsFiles(root_cert=pki.ca)).ravel(), [2.5, 3])


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_client_trusting_another_ca_says_the_certificate_is_wrong(tls_server, pki, rest):
    error = refusal(tls_server, rest, TlsFiles(root_cert=pki.other_ca))
    assert error.details.startswith("certificate: the server's certificate is not signed")
    assert not error.retryable


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_certificate_for_another_host_says_the_hostname_is_wrong(start_server, pki, tmp_path, rest):
    config = ssl_config(tmp_path / "ssl", pki.wrong_host_cert, pki.wrong_host_key, None, False)
    server = start_server(ssl_config_file=str(config))
    error = refusal(server, rest, TlsFiles(root_cert=pki.ca))
    assert error.details.startswith("hostname: the server's certificate does not name 'localhost'")


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_mtls_serves_a_client_certificate_from_the_custom_ca(mtls_server, pki, rest):
    tls = TlsFiles(pki.ca, pki.client_cert, pki.client_key)
    np.testing.assert_allclose(call(mtls_server, rest, tls).ravel(), [2.5, 3.0])


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_mtls_refuses_a_client_without_a_certificate(mtls_server, pki, rest):
    error = refusal(mtls_server, rest, TlsFiles(root_cert=pki.ca))
    assert error.details.startswith("certificate: the server refused the TLS handshake")
    assert "pass --client-cert and --client-key" in error.details


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_mtls_refuses_a_client_certificate_from_another_ca(mtls_server, pki, rest):
    tls = TlsFiles(pki.ca, pki.other_client_cert, pki.other_client_key)
    error = refusal(mtls_server, rest, tls)
    assert error.details.startswith("certificate: the server refused the TLS handshake")
    assert f"--client-cert {pki.other_client_cert} is not signed" in error.details
    # and the server is still up for the right client
    tls = TlsFiles(pki.ca, pki.client_cert, pki.client_key)
    np.testing.assert_allclose(call(mtls_server, rest, tls).ravel(), [2.5, 3.0])


def test_tls_client_to_a_plaintext_port_says_so(start_server, pki):
    server = start_server()
    for rest in (False, True):
        error = refusal(server, rest, TlsFiles(root_cert=pki.ca))
        assert "does not speak TLS on this port" in error.details


def test_ssl_config_mistakes_are_user_errors_naming_the_fix(pki, tmp_path):
    no_ca = ssl_config(tmp_path / "a", pki.server_cert, pki.server_key, None, True)
    with pytest.raises(UsageError, match="client_verify needs custom_ca"):
        read_ssl_config(str(no_ca))
    mismatched = ssl_config(tmp_path / "b", pki.server_cert, pki.client_key, None, False)
    with pytest.raises(UsageError, match="does not match the certificate"):
        read_ssl_config(str(mismatched))
    (tmp_path / "c").write_text("server_key: /etc/key.pem\n")
    with pytest.raises(UsageError, match="not an SSLConfig text proto"):
        read_ssl_config(str(tmp_path / "c"))
    with pytest.raises(UsageError, match="cannot read it"):
        read_ssl_config(str(tmp_path / "missing"))
