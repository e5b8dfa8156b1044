"""TF Serving's gRPC API: PredictionService and ModelService on `tensorflow_serving.apis` stubs.

Every method answers the response proto or aborts with TF Serving's status code and message; an
unexpected error in one request becomes that request's error status, never the server's end.
"""

import logging
from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.errors import UsageError
from serving.server.core.server_core import ServerCore
from serving.server.frontend import service
from serving.server.frontend.limits import RequestLimits, RequestSizeInterceptor, grpc_options
from serving.server.status import as_serving_error

log = logging.getLogger(__name__)


def _rpc(handler: Callable) -> Callable:
    """A servicer method running `handler(core, request)` and mapping errors to a gRPC status."""

    def method(self, request, context):
        try:
            return handler(self.core, request)
        except Exception as error:  # each failure is answered as a status, whatever it was
            status = as_serving_error(error)
            if status.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                log.exception("%s failed", handler.__name__)
            context.abort(status.code, status.grpc_message)

    method.__name__ = handler.__name__
    method.__doc__ = f"TF Serving's {handler.__name__}, answered from the ServerCore."
    return method


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService: Predict, Classify, Regress, MultiInference, metadata"""

    def __init__(self, core: ServerCore):
        self.core = core

    Predict = _rpc(service.predict)
    Classify = _rpc(service.classify)
    Regress = _rpc(service.regress)
    MultiInference = _rpc(service.multi_inference)
    GetModelMetadata = _rpc(service.get_model_metadata)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, core: ServerCore):
        self.core = core

    GetModelStatus = _rpc(service.get_model_status)
    HandleReloadConfigRequest = _rpc(service.reload_config)


def start_grpc_server(
    core: ServerCore,
    host: str,
    port: int,
    threads: int,
    limits: RequestLimits,
    channel_arguments: str = "",
    credentials: grpc.ServerCredentials | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    extra_services: Sequence[Callable[[grpc.Server], None]] = (),
) -> tuple[grpc.Server, int]:
    """Starts both services on host:port (port 0 picks a free one); returns the server and port.

    `channel_arguments` is TF Serving's `--grpc_channel_arguments` (see `limits.grpc_options`).
    With `credentials` the port speaks TLS only; `interceptors` see every call first, in order
    (tokens, then metrics), and the request-size check after them; each of `extra_services`
    adds a service to the server before it starts (the health service).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        interceptors=[*interceptors, RequestSizeInterceptor(limits)],
        options=grpc_options(channel_arguments),
    )
    for add_service in extra_services:
        add_service(server)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise UsageError(
            f"--port {port}: cannot listen for gRPC on {address}. "
            "Choose a free port (or stop the process using it)."
        )
    server.start()
    return server, bound
