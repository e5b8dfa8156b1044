"""Resource limits: what one request may cost the server, checked before anything is allocated.

A request from the network is hostile until read. Each limit below bounds one way a small request
can make the server allocate or wait a lot; each is refused with a status naming the flag to raise:

- gRPC messages: at most `grpc.max_receive_message_length` bytes (`--grpc_channel_arguments`,
  TF Serving's flag), RESOURCE_EXHAUSTED from gRPC itself;
- a Predict tensor declares its shape, and values shorter than the shape are repeated to fill it
  (TensorFlow's rule): the filled size, counted in values (a string counts one plus its bytes,
  whether in `string_val` or `tensor_content`: an empty string still takes a slot), is at most
  `--max_request_elements`, else RESOURCE_EXHAUSTED before the tensor is built;
- REST bodies: at most `--rest_api_max_body_bytes` (413 before the body is read), JSON nested at
  most `--rest_api_max_json_depth` deep (400 before it is parsed), read within
  `--rest_api_timeout_in_ms` (408), by at most `--rest_api_num_threads` threads.
"""

import argparse
import dataclasses
import logging
import math
import os
import queue
import re
import socket
import threading
from http.server import HTTPServer

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2

from serving.errors import UsageError
from serving.server.status import ServingError
from serving.tensors import TensorError, kind_of, shape_of

log = logging.getLogger(__name__)

MIB = 2**20


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """The bounds of one request, named after the server flags that set them."""

    max_request_elements: int = 2**25  # 128 MiB of float32
    rest_api_max_body_bytes: int = 32 * MIB
    rest_api_max_json_depth: int = 100
    rest_api_num_threads: int = 4 * (os.cpu_count() or 1)  # TF Serving's default
    rest_api_timeout_in_ms: int = 30_000  # TF Serving's default


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """The limit flags of `python -m serving.server` (TF Serving's names where it has them)."""
    defaults = RequestLimits()
    add = parser.add_argument
    add(
        "--grpc_channel_arguments",
        default="",
        help="gRPC server arguments, e.g. grpc.max_receive_message_length=134217728 "
        f"(default here: {DEFAULT_GRPC_OPTIONS['grpc.max_receive_message_length']} bytes)",
    )
    add(
        "--max_request_elements",
        type=int,
        default=defaults.max_request_elements,
        help="values a request's tensors may expand to (a string counts one plus its bytes)",
    )
    add(
        "--rest_api_max_body_bytes",
        type=int,
        default=defaults.rest_api_max_body_bytes,
        help="largest REST body accepted (413 above)",
    )
    add(
        "--rest_api_max_json_depth",
        type=int,
        default=defaults.rest_api_max_json_depth,
        help="deepest JSON nesting accepted (400 above)",
    )
    add(
        "--rest_api_num_threads",
        type=int,
        default=defaults.rest_api_num_threads,
        help="threads answering REST connections (default 4 per CPU)",
    )
    add(
        "--rest_api_timeout_in_ms",
        type=int,
        default=defaults.rest_api_timeout_in_ms,
        help="REST socket timeout: a request not received in this time gets 408",
    )


def limits_from_args(args: argparse.Namespace) -> RequestLimits:
    """RequestLimits from the parsed flags; each must be positive."""
    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(RequestLimits)}
    for name, value in values.items():
        if value <= 0:
            raise UsageError(f"--{name}={value}: must be positive.")
    try:
        grpc_options(args.grpc_channel_arguments)
    except ValueError as error:
        raise UsageError(f"{error}; write key=value pairs separated by commas.") from error
    return RequestLimits(**values)


# gRPC options of the server: a port already taken is an error rather than shared with another
# server (gRPC's SO_REUSEPORT default); messages up to 64 MiB (TF Serving allows 2 GiB).
DEFAULT_GRPC_OPTIONS = {
    "grpc.max_receive_message_length": 64 * MIB,
    "grpc.max_send_message_length": -1,
    "grpc.so_reuseport": 0,
}


def grpc_options(channel_arguments: str) -> list[tuple[str, int | str]]:
    """The gRPC server options: the defaults, overridden by `--grpc_channel_arguments`.

    TF Serving's format: comma-separated `key=value` pairs, a value that parses as an integer is
    passed as one (`grpc.max_receive_message_length=134217728,grpc.max_connection_age_ms=2000`).
    """
    options: dict[str, int | str] = dict(DEFAULT_GRPC_OPTIONS)
    for pair in filter(None, (part.strip() for part in channel_arguments.split(","))):
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"--grpc_channel_arguments: {pair!r} is not key=value")
        options[key.strip()] = int(value) if re.fullmatch(r"-?\d+", value.strip()) else value
    return list(options.items())


def expanded_size(proto) -> int:
    """How many values a TensorProto fills once its shape is filled in (strings: one plus bytes).

    A string counts one even when empty: the filled array holds a slot per string, so a huge
    shape over no values at all is as costly as one over a value.
    """
    count = math.prod(shape_of(proto))
    if kind_of(proto.dtype).field != "string_val":
        return count
    if proto.tensor_content:  # a string each byte at most: more is malformed, left for Predict
        return min(count, len(proto.tensor_content)) + len(proto.tensor_content)
    strings = proto.string_val
    if count <= len(strings):
        return count + sum(len(item) for item in strings[:count])
    total = sum(len(item) for item in strings)
    return count + total + (count - len(strings)) * (len(strings[-1]) if strings else 0)


def check_predict_size(request: predict_pb2.PredictRequest, limits: RequestLimits) -> None:
    """RESOURCE_EXHAUSTED if the request's input tensors would fill more than the limit.

    A malformed tensor (unknown dtype, negative size) is left for Predict to reject by name.
    """
    total = 0
    for proto in request.inputs.values():
        try:
            total += expanded_size(proto)
        except TensorError:
            continue
    if total > limits.max_request_elements:
        raise ServingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Request inputs expand to {total} values, over the server's limit of "
            f"{limits.max_request_elements} (--max_request_elements); send smaller batches.",
        )


class RequestSizeInterceptor(grpc.ServerInterceptor):
    """Refuses Predict requests that would expand past `max_request_elements`, before Predict.

    The checking handler is built once per Predict handler (grpcio asks interceptors for every
    call on its one dispatching thread, the server's busiest).
    """

    def __init__(self, limits: RequestLimits):
        self.limits = limits
        self._checked: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.endswith("/Predict"):
            return handler
        checked = self._checked.get(handler)
        if checked is None:
            checked = self._checked[handler] = self._checking(handler)
        return checked

    def _checking(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behaviour = handler.unary_unary

        def checked(request, context):
            try:
                check_predict_size(request, self.limits)
            except ServingError as error:
                context.abort(error.code, error.message)
            return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class RestRefused(Exception):
    """A REST request refused before it is dispatched: HTTP status and message."""

    def __init__(self, http_status: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def read_rest_body(headers, stream, limits: RequestLimits) -> bytes:
    """The request body, read only if its declared length and JSON depth are within the limits."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        raise RestRefused(411, "Chunked request bodies are not supported; send Content-Length.")
    length = headers.get("Content-Length", "0").strip()
    if not length.isdigit():
        raise RestRefused(400, f"Malformed Content-Length: {length[:64]!r}")
    if int(length) > limits.rest_api_max_body_bytes:
        raise RestRefused(
            413,
            f"Request body of {length} bytes is over the server's limit of "
            f"{limits.rest_api_max_body_bytes} (--rest_api_max_body_bytes).",
        )
    try:
        body = stream.read(int(length))
    except (TimeoutError, OSError) as error:
        raise RestRefused(408, f"Request body not received in time: {error}") from error
    if len(body) < int(length):
        raise RestRefused(400, f"Request body ended after {len(body)} of {length} bytes.")
    depth = json_depth(body)
    if depth > limits.rest_api_max_json_depth:
        raise RestRefused(
            400,
            f"JSON Parse error: nested {depth} deep, over the server's limit of "
            f"{limits.rest_api_max_json_depth} (--rest_api_max_json_depth).",
        )
    return body


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count).

    Only the brackets are counted, kept by `bytes.translate` (a 580 KB image body: 20 -> 2 ms).
    """
    brackets = _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS)
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
    steps -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


class PooledHTTPServer(HTTPServer):
    """An HTTP server answering connections on a fixed number of threads.

    Accepted connections wait in a queue for a free thread; each connection's socket times out
    after `rest_api_timeout_in_ms` of silence, so a slow or idle client cannot hold a thread for
    long. `server_close` also closes the open connections, so no thread outlives the server.
    """

    def __init__(self, address, handler, limits: RequestLimits):
        super().__init__(address, handler)
        self._waiting: queue.Queue = queue.Queue()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._threads = max(limits.rest_api_num_threads, 1)
        for index in range(self._threads):
            threading.Thread(target=self._work, name=f"rest-{index}", daemon=True).start()

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        self._waiting.put((request, client_address))

    def _work(self) -> None:
        while (item := self._waiting.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # one broken connection must not end the thread
                log.debug("REST connection from %s failed", client_address, exc_info=True)
            finally:
                with self._open_lock:
                    self._open.discard(request)
                self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            for connection in self._open:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the client
        self._waiting.queue.clear()
        for _ in range(self._threads):
            self._waiting.put(None)  # each thread takes one and ends
