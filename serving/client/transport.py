"""How the client reaches a server: a gRPC channel to TF Serving's services, retries and TLS.

A transport has `call(method, request) -> response` for the methods predict, classify, regress,
metadata and status, taking and returning `tensorflow_serving.apis` messages, so the client does
not care whether they travel over gRPC (here) or TF Serving's REST API (`rest_transport`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from serving.client.errors import RemoteError, UsageError
from serving.client.security import explain, is_security_failure

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Up to `attempts` tries while UNAVAILABLE, `initial`·2^k s apart (at most `maximum` s)."""

    attempts: int = 5
    initial: float = 0.2
    maximum: float = 2.0


def call_with_retry(
    call: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> T:
    """`call()`, tried again after a growing pause while it fails with UNAVAILABLE."""
    delay = policy.initial
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except RemoteError as err:
            if not err.retryable or attempt >= policy.attempts:
                raise
        sleep(delay)
        delay = min(delay * 2, policy.maximum)
    raise ValueError(f"retry policy {policy} allows no attempt")


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS: the CA that signed the server, and a client cert and key for mTLS."""

    root_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def read(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """The bytes of (root cert, client key, client cert), after checking the files exist."""
        if (self.client_cert is None) != (self.client_key is None):
            raise UsageError("mutual TLS needs both --client-cert and --client-key")
        for path in (self.root_cert, self.client_cert, self.client_key):
            if path is not None and not Path(path).is_file():
                raise UsageError(f"TLS file {path} does not exist; pass the path of a PEM file")
        root, key, cert = (
            Path(p).read_bytes() if p else None
            for p in (self.root_cert, self.client_key, self.client_cert)
        )
        return root, key, cert


class GrpcTransport:
    """PredictionService and ModelService stubs on one channel; failures become RemoteError."""

    def __init__(
        self,
        server: str,
        timeout: float,
        tls: TlsFiles | None,
        retry: RetryPolicy,
        token: str | None = None,
    ):
        # gRPC waits between reconnection attempts on its own; keep that wait no longer than our
        # backoff, so a retry reaches a server that has come up meanwhile.
        options = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            ("grpc.initial_reconnect_backoff_ms", int(retry.initial * 1000)),
            ("grpc.min_reconnect_backoff_ms", int(retry.initial * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(retry.maximum * 1000)),
        ]
        if tls is None:
            self._channel = grpc.insecure_channel(server, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(*tls.read())
            self._channel = grpc.secure_channel(server, credentials, options=options)
        self._timeout = timeout
        self._server, self._tls, self._token = server, tls, token
        self._metadata = [("authorization", f"Bearer {token}")] if token else None
        prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._methods = {
            "predict": prediction.Predict,
            "classify": prediction.Classify,
            "regress": prediction.Regress,
            "metadata": prediction.GetModelMetadata,
            "status": models.GetModelStatus,
        }

    def call(self, method: str, request: Any) -> Any:
        """Send `request` to the RPC `method` (predict, classify, regress, metadata, status)."""
        try:
            return self._methods[method](request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            code = err.code().name
            details = explain(code, err.details() or "", self._server, self._tls, self._token)
            retryable = not is_security_failure(details)
            raise RemoteError(code, details, retryable=retryable) from None

    def close(self) -> None:
        self._channel.close()
