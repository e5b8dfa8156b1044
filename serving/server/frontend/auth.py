"""Bearer tokens on both ports: `--auth_token_file` for every call, `--admin_token_file` for reload.

A token file holds one token per line (blank lines and `# comments` ignored). A gRPC call sends
`authorization: Bearer <token>` metadata, a REST request the same `Authorization` header. The
check runs before anything else looks at the request, so a caller without a valid token learns
nothing about which models exist: every method and path answers UNAUTHENTICATED (HTTP 401) alike.
With an admin token file, the admin RPCs (HandleReloadConfigRequest) take only an admin token and
answer PERMISSION_DENIED (403) to a user token; admin tokens are good for every other call too.
TF Serving has no token auth: this goes past it, as a `grpc.ServerInterceptor` and one REST check.
The gRPC health service stays open: Kubernetes' gRPC probes send no metadata, and it tells only
whether the server is ready.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import grpc

from serving.errors import UsageError

ADMIN_METHODS = frozenset({"/tensorflow.serving.ModelService/HandleReloadConfigRequest"})
OPEN_SERVICE = "/grpc.health.v1.Health/"
MIN_TOKEN_CHARS = 16
UNAUTHENTICATED = (
    grpc.StatusCode.UNAUTHENTICATED,
    "Missing or invalid bearer token: send `authorization: Bearer <token>`.",
)
FORBIDDEN = (
    grpc.StatusCode.PERMISSION_DENIED,
    "This call needs an admin token (the server's --admin_token_file).",
)


def read_tokens(path: str, flag: str) -> frozenset[bytes]:
    """The sha256 digests of the tokens in `path`, one per line; a short or empty file fails."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise UsageError(f"{flag} {path}: cannot read it ({error.strerror}).") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    make_one = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if not tokens:
        raise UsageError(f"{flag} {path} holds no token; put one per line, made with: {make_one}")
    for number, token in enumerate(tokens, start=1):
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise UsageError(
                f"{flag} {path}: token {number} is shorter than {MIN_TOKEN_CHARS} characters or "
                f"holds spaces, too easy to guess or to mistype; make one with: {make_one}"
            )
    return frozenset(_digest(token) for token in tokens)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _known(digests: frozenset[bytes], token: str | None) -> bool:
    """Whether `token` is one of `digests`, comparing every one in constant time."""
    if token is None:
        return False
    presented = _digest(token)
    return sum(hmac.compare_digest(presented, known) for known in digests) > 0


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@dataclasses.dataclass(frozen=True)
class TokenAuth:
    """Which tokens open which calls; an empty set leaves those calls open."""

    user: frozenset[bytes] = frozenset()
    admin: frozenset[bytes] = frozenset()

    @classmethod
    def from_files(cls, auth_token_file: str, admin_token_file: str) -> TokenAuth | None:
        """The tokens of the two flags, or None when neither is set (no checks at all)."""
        if not auth_token_file and not admin_token_file:
            return None
        user = read_tokens(auth_token_file, "--auth_token_file") if auth_token_file else frozenset()
        admin = (
            read_tokens(admin_token_file, "--admin_token_file") if admin_token_file else frozenset()
        )
        return cls(user, admin)

    def refusal(self, authorization: str | None, admin_call: bool) -> tuple | None:
        """None when the call may go on, else the (gRPC code, message) to refuse it with."""
        token = bearer_token(authorization)
        if admin_call and self.admin:
            if _known(self.admin, token):
                return None
            return FORBIDDEN if _known(self.user, token) else UNAUTHENTICATED
        if not self.user or _known(self.user, token) or _known(self.admin, token):
            return None
        return UNAUTHENTICATED


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses a gRPC call without a good bearer token before its handler sees the request."""

    def __init__(self, auth: TokenAuth):
        self.auth = auth

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(OPEN_SERVICE):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        admin_call = handler_call_details.method in ADMIN_METHODS
        refusal = self.auth.refusal(metadata.get("authorization"), admin_call)
        handler = continuation(handler_call_details)
        if refusal is None:
            return handler
        return _refusing_handler(handler, *refusal)


def _refusing_handler(handler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind that aborts with `code`, never parsing the request
    (an unknown method is refused the same way, so a caller cannot probe which exist)."""

    def refuse(request, context):
        context.abort(code, message)

    streaming = (
        (handler.request_streaming, handler.response_streaming) if handler else (False, False)
    )
    make: dict[tuple[bool, bool], Callable] = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    return make[streaming](refuse)
