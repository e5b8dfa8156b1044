"""A running local model server: a ServerCore behind gRPC and REST endpoints, as TF Serving's.

`ModelServer(ServerOptions(...)).start()` loads every model, opens the ports and, if asked,
re-reads the model config file; `stop()` drains: readiness turns false, in-flight requests
finish, then the models unload. Metrics, the health service and drain live in `metrics` and
`health`; here they are plugged into the endpoints.
The command line (`serving.server.main`) and tests start servers this way.
"""

import dataclasses
import logging
import os
import threading

from tensorflow_serving.config import model_server_config_pb2

from serving.errors import UsageError
from serving.server.core.model_config import read_model_server_config
from serving.server.core.model_signature import check_public_key
from serving.server.core.server_core import CoreOptions, ServerCore
from serving.server.frontend.auth import TokenAuth, TokenInterceptor
from serving.server.frontend.grpc_api import start_grpc_server
from serving.server.frontend.health import InFlight, Readiness
from serving.server.frontend.limits import RequestLimits
from serving.server.frontend.rest_api import start_rest_server
from serving.server.frontend.tls import (
    grpc_credentials,
    read_ssl_config,
    rest_context,
    warn_if_exposed,
)
from serving.server.metrics import MetricsInterceptor, read_monitoring_config, render_page
from serving.server.status import ServingError

log = logging.getLogger("serving.server")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What to serve and where; named after tensorflow_model_server's flags.

    For programmatic use `port=0` picks a free gRPC port and `rest_api_port=0` a free REST port;
    `rest_api_port=None` turns REST off (the CLI's `--rest_api_port=0`).
    """

    port: int = 8500
    rest_api_port: int | None = None
    host: str = "127.0.0.1"
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: float = 0
    grpc_max_threads: int = 4 * (os.cpu_count() or 1)
    ssl_config_file: str = ""  # TLS (mTLS with client_verify) on both ports, see tls.py
    auth_token_file: str = ""  # bearer tokens for every call, see auth.py
    admin_token_file: str = ""  # bearer tokens for HandleReloadConfigRequest
    monitoring_config_file: str = ""
    enable_grpc_healthcheck_service: bool = False
    grpc_channel_arguments: str = ""
    limits: RequestLimits = RequestLimits()
    core: CoreOptions = CoreOptions()


class ModelServer:
    """A running server: the ServerCore, the gRPC and REST endpoints and the config-file poller."""

    def __init__(self, options: ServerOptions):
        self.options = options
        self.core = ServerCore(options.core)
        self.grpc_port: int | None = None
        self.rest_port: int | None = None
        self._grpc_server = None
        self._rest_server = None
        self._stopped = threading.Event()
        self._config_poller: threading.Thread | None = None
        self.readiness: Readiness | None = None
        self._in_flight = InFlight()

    def start(self) -> "ModelServer":
        """Loads every model (blocking until each is available), then opens gRPC and REST."""
        config = self._initial_config()
        options = self.options
        tls = read_ssl_config(options.ssl_config_file) if options.ssl_config_file else None
        auth = TokenAuth.from_files(options.auth_token_file, options.admin_token_file)
        warn_if_exposed(options.host, tls, auth is not None)
        if options.core.model_verify_key:
            check_public_key(options.core.model_verify_key)
        metrics_path = None
        if options.monitoring_config_file:
            metrics_path = read_monitoring_config(options.monitoring_config_file)
        try:
            self.core.reload_config(config)
        except ServingError as error:
            self.core.stop()
            message = f"Failed to start server. Error: {error.code.name}: {error.message}"
            raise UsageError(message) from error
        if self._stopped.is_set():
            return self  # asked to stop while loading: `wait` returns at once, `stop` cleans up
        self.core.start_polling()
        # Tokens are checked first, so a refused call is neither answered nor counted.
        interceptors = [TokenInterceptor(auth)] if auth else []
        interceptors.append(MetricsInterceptor())
        if options.enable_grpc_healthcheck_service:
            self.readiness = Readiness(self.core)
        try:
            self._grpc_server, self.grpc_port = start_grpc_server(
                self.core,
                options.host,
                options.port,
                options.grpc_max_threads,
                options.limits,
                options.grpc_channel_arguments,
                credentials=grpc_credentials(tls) if tls else None,
                interceptors=interceptors,
                extra_services=[self.readiness.add_to_server] if self.readiness else [],
            )
            log.info("Running gRPC ModelServer at %s:%d ...", options.host, self.grpc_port)
            if options.rest_api_port is not None:
                pages = {metrics_path: render_page} if metrics_path else {}
                self._rest_server, self.rest_port = start_rest_server(
                    self.core,
                    options.host,
                    options.rest_api_port,
                    options.limits,
                    pages,
                    self._in_flight,
                    ssl_context=rest_context(tls) if tls else None,
                    auth=auth,
                )
                log.info("Exporting HTTP/REST API at %s:%d ...", options.host, self.rest_port)
                if metrics_path:
                    log.info("Prometheus metrics at %s on the REST port", metrics_path)
        except UsageError:
            self.stop()
            raise
        if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
            self._config_poller = threading.Thread(
                target=self._poll_config_file, name="config-poll", daemon=True
            )
            self._config_poller.start()
        return self

    def _initial_config(self) -> model_server_config_pb2.ModelServerConfig:
        if self.options.model_config_file:
            return read_model_server_config(self.options.model_config_file)
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add()
        entry.name = self.options.model_name
        entry.base_path = self.options.model_base_path
        entry.model_platform = "tensorflow"
        return config

    def _poll_config_file(self) -> None:
        while not self._stopped.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                self.core.reload_config(read_model_server_config(self.options.model_config_file))
            except (UsageError, ServingError) as error:
                log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", error)

    def request_stop(self) -> None:
        """Wakes `wait` and ends any wait for models (from any thread, also during
        `start`); the waiting thread then calls `stop`."""
        self._stopped.set()
        self.core.request_stop()

    def wait(self) -> None:
        """Blocks until `request_stop` or `stop` is called."""
        self._stopped.wait()

    def stop(self, grace_seconds: float = 2.0) -> None:
        """Drains: readiness false first, then new requests are refused and in-flight ones finish
        (up to the grace), then the models unload.

        Bounded: a thread still inside TensorFlow after the grace (a long run, a load) is left
        to finish on its own, so stopping never waits on it.
        """
        self.request_stop()
        if self.readiness is not None:
            self.readiness.drain()
            log.info("Health service: NOT_SERVING; draining in-flight requests")
        grpc_stopped = None
        if self._grpc_server is not None:
            grpc_stopped = self._grpc_server.stop(grace_seconds)
        if self._rest_server is not None:
            self._rest_server.shutdown()
            if not self._in_flight.close_and_wait(grace_seconds):
                log.warning("REST requests still running after %.1f s; closing", grace_seconds)
            self._rest_server.server_close()
        if grpc_stopped is not None:
            grpc_stopped.wait()
        if self._config_poller is not None:
            self._config_poller.join(timeout=0.5)
        self.core.stop(timeout_seconds=0.5)
