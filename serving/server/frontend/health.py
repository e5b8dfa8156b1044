"""Health, readiness and drain: gRPC's standard health service and in-flight request tracking.

`--enable_grpc_healthcheck_service` adds `grpc.health.v1.Health`, as TF Serving does, answering
for the server ("") and for "ModelService" and "PredictionService" (TF Serving's names). Here
SERVING means *ready*: every configured model has an available version; a model still loading
or whose versions all failed makes the server NOT_SERVING. A Kubernetes `grpc:` probe asks "".

On stop (SIGTERM) the server drains: readiness turns NOT_SERVING first (Watch streams hear it at
once), new requests are refused, in-flight ones finish within the grace period, then it exits.
`InFlight` counts REST requests so their drain can be awaited (gRPC's own stop awaits its RPCs).
"""

import threading

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from serving.server.core.server_core import ServerCore

SERVICES = ("", "ModelService", "PredictionService")
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness(health.HealthServicer):
    """The health service: SERVING while every configured model has an available version."""

    def __init__(self, core: ServerCore, refresh_seconds: float = 1.0):
        super().__init__()
        self._core = core
        self._status = None
        self._refresh_lock = threading.Lock()
        self._draining = threading.Event()
        self._refresher = threading.Thread(
            target=self._refresh_forever, args=(refresh_seconds,), name="health", daemon=True
        )
        self.refresh()
        self._refresher.start()

    def add_to_server(self, server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self, server)

    def refresh(self) -> None:
        """Re-reads readiness from the core; a change is published to Check and Watch callers."""
        status = _NOT_SERVING if self._core.unavailable_models() else _SERVING
        with self._refresh_lock:
            if self._draining.is_set() or status == self._status:
                return
            self._status = status
            for service in SERVICES:
                self.set(service, status)

    def Check(self, request, context):  # noqa: N802 (gRPC's method name)
        self.refresh()
        return super().Check(request, context)

    def drain(self) -> None:
        """Readiness false for good: every service NOT_SERVING, later changes ignored."""
        with self._refresh_lock:
            self._draining.set()
            self.enter_graceful_shutdown()

    def _refresh_forever(self, seconds: float) -> None:
        while not self._draining.wait(seconds):
            self.refresh()


class InFlight:
    """Counts requests being answered; once closed, refuses new ones and lets callers wait."""

    def __init__(self):
        self._count = 0
        self._closed = False
        self._idle = threading.Condition()

    def enter(self) -> bool:
        """Starts one request; False when draining (the request must be refused)."""
        with self._idle:
            if self._closed:
                return False
            self._count += 1
            return True

    def exit(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def close_and_wait(self, timeout: float) -> bool:
        """Refuses new requests, waits up to `timeout` s for running ones; True if all finished."""
        with self._idle:
            self._closed = True
            return self._idle.wait_for(lambda: self._count == 0, timeout)
