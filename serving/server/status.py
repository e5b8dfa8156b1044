"""The status of a failed request, with the codes and messages TF Serving answers.

Everything the server does raises `ServingError` for a request it cannot serve; the gRPC layer turns
it into a status code and the REST layer into an HTTP status with `{"error": message}`.
"""

import grpc

from serving.tensors import TensorError

# TF Serving's http_server.cc maps each canonical code to one HTTP status.
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_MAX_MESSAGE_CHARS = 1024  # TF Serving truncates gRPC error messages to 1024 characters


class ServingError(Exception):
    """A request the server cannot serve: a canonical status code and TF Serving's message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers for this code."""
        return _HTTP_STATUS.get(self.code, 500)

    @property
    def grpc_message(self) -> str:
        """The message as TF Serving sends it over gRPC (truncated past 1024 characters)."""
        if len(self.message) <= _MAX_MESSAGE_CHARS:
            return self.message
        return self.message[:_MAX_MESSAGE_CHARS] + "...TRUNCATED"


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def code_from_number(number: int) -> grpc.StatusCode:
    """The gRPC code for a canonical error number (TensorFlow's `error_code`, `StatusProto`)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def as_serving_error(error: Exception) -> ServingError:
    """Any error raised while serving a request, as the status TF Serving would answer."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, TensorError):
        return invalid_argument(str(error))
    error_code = getattr(error, "error_code", None)  # tf.errors.OpError carries a canonical code
    if isinstance(error_code, int):
        return ServingError(code_from_number(error_code), getattr(error, "message", str(error)))
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
