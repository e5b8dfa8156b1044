"""TF Serving's REST API over HTTP: the `/v1/models/...` routes on a ServerCore.

    POST /v1/models/NAME[/versions/V | /labels/L]:predict|:classify|:regress
    GET  /v1/models/NAME[/versions/V | /labels/L]             (model status)
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata    (signature defs)

Every answer is JSON; a failure is `{"error": message}` with the HTTP status TF Serving maps the
error code to (400 for bad requests, 404 for unknown models or versions, ...). Paths outside `/v1/`
get 404; a `/v1/` path that matches no route is "Malformed request" (400), as in TF Serving.
"""

import logging
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from serving import apis
from serving.errors import UsageError
from serving.server import metrics
from serving.server.core.server_core import ServerCore
from serving.server.frontend import service
from serving.server.frontend.auth import TokenAuth
from serving.server.frontend.health import InFlight
from serving.server.frontend.limits import (
    PooledHTTPServer,
    RequestLimits,
    RestRefused,
    read_rest_body,
)
from serving.server.frontend.rest_examples import (
    parse_examples,
    write_classification_result,
    write_regression_result,
)
from serving.server.frontend.rest_json import (
    parse_json_object,
    parse_predict_inputs,
    signature_name_of,
    write_error,
    write_model_metadata,
    write_predict_response,
    write_proto,
)
from serving.server.frontend.tls import TlsHttpServer
from serving.server.servables.inference import signature_key
from serving.server.status import ServingError, as_serving_error, invalid_argument

log = logging.getLogger(__name__)

_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
_PREDICTION_PATH = re.compile(
    rf"/v1/models/([^/:]+){_VERSION_OR_LABEL}:(classify|regress|predict)", re.IGNORECASE
)
_MODEL_PATH = re.compile(rf"/v1/models(?:/([^/:]+))?{_VERSION_OR_LABEL}(?:/(metadata))?", re.I)
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)


def answer_rest_request(core: ServerCore, verb: str, path: str, body: bytes) -> tuple[int, str]:
    """The HTTP status and JSON body TF Serving answers to one REST request (counted, timed)."""
    start = time.perf_counter()
    model, method = _metric_labels(verb, path)
    try:
        text = _dispatch(core, verb, path, body)
    except Exception as error:  # every failure is answered as JSON, whatever it was
        status = as_serving_error(error)
        if status.http_status >= 500:
            log.exception("REST %s %s failed", verb, path)
        metrics.record_request(model, method, "REST", status.code.name, 0)
        return status.http_status, write_error(status.message)
    metrics.record_request(model, method, "REST", "OK", metrics.micros_since(start))
    return 200, text


def _metric_labels(verb: str, path: str) -> tuple[str, str]:
    """The model name and method (predict, classify, regress; "" for GETs) TF Serving records."""
    match = _PREDICTION_PATH.fullmatch(path) if verb == "POST" else _MODEL_PATH.fullmatch(path)
    if match is None:
        return "", ""
    name = urllib.parse.unquote(match.group(1) or "")
    return name, match.group(4) if verb == "POST" else ""


def _dispatch(core: ServerCore, verb: str, path: str, body: bytes) -> str:
    pattern = {"POST": _PREDICTION_PATH, "GET": _MODEL_PATH}.get(verb)
    match = pattern.fullmatch(path) if pattern else None
    if match is None:
        raise invalid_argument(f"Malformed request: {verb} {path}")
    name, version, label, action = match.groups()
    spec = _model_spec(name, version, label)
    if verb == "GET" and not spec.name:
        raise invalid_argument("Missing model name in request.")
    if verb == "GET" and action == "metadata":
        request = apis.GetModelMetadataRequest(
            model_spec=spec, metadata_field=[service.SIGNATURE_DEF_FIELD]
        )
        return write_model_metadata(service.get_model_metadata(core, request))
    if verb == "GET":
        request = apis.GetModelStatusRequest(model_spec=spec)
        return write_proto(service.get_model_status(core, request))
    if action == "predict":
        return _predict(core, spec, body)
    if action in ("classify", "regress"):
        return _classify_or_regress(core, spec, action, body)
    raise invalid_argument(f"Malformed request: {verb} {path}")  # e.g. ":PREDICT"


def _model_spec(name: str | None, version: str | None, label: str | None) -> apis.ModelSpec:
    spec = apis.ModelSpec(name=urllib.parse.unquote(name or ""))
    if version is not None and label is not None:
        raise invalid_argument(
            f"Both model version ({version}) and model version label ({label}) cannot be supplied."
        )
    if version is not None:
        if int(version) >= 2**63:
            raise invalid_argument(f"Failed to convert version: {version} to numeric.")
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = urllib.parse.unquote(label)
    return spec


def _predict(core: ServerCore, spec: apis.ModelSpec, body: bytes) -> str:
    document = parse_json_object(body)
    spec.signature_name = signature_name_of(document)
    signatures = core.servable(spec).signatures
    name = signature_key(spec.signature_name)
    if name not in signatures:
        raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
    inputs, layout = parse_predict_inputs(document, signatures[name].inputs)
    request = apis.PredictRequest(model_spec=spec, inputs=inputs)
    return write_predict_response(service.predict(core, request).outputs, layout)


def _classify_or_regress(core: ServerCore, spec: apis.ModelSpec, action: str, body) -> str:
    document = parse_json_object(body)
    spec.signature_name = signature_name_of(document)
    if action == "classify":
        request = apis.ClassificationRequest(model_spec=spec)
        parse_examples(document, request)
        return write_classification_result(service.classify(core, request).result)
    request = apis.RegressionRequest(model_spec=spec)
    parse_examples(document, request)
    return write_regression_result(service.regress(core, request).result)


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP request, answers it with `answer_rest_request` or one of the `pages`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients with sessions expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't delay the body
    # set on the subclass built by start_rest_server, as is `timeout` (socket, seconds):
    core: ServerCore
    limits: RequestLimits
    pages: dict[str, Callable[[], str]]  # GET path → text/plain page (the metrics page)
    in_flight: InFlight
    auth: TokenAuth | None = None  # None: no token needed

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, verb: str) -> None:
        refusal = self.auth and self.auth.refusal(self.headers.get("Authorization"), False)
        if refusal:  # before the body is read or the path looked at: the same for every path
            code, message = refusal
            self._send(ServingError(code, message).http_status, write_error(message), close=True)
            return
        try:
            body = read_rest_body(self.headers, self.rfile, self.limits)
        except RestRefused as refused:  # the rest of the request is unread: drop the connection
            self._send(refused.http_status, write_error(refused.message), close=True)
            return
        path = urllib.parse.urlsplit(self.path).path
        if not self.in_flight.enter():  # the server is draining
            self._send(503, write_error("The server is shutting down"), close=True)
            return
        content_type = "application/json"
        try:
            if verb == "GET" and path in self.pages:
                status, text = 200, self.pages[path]()
                content_type = "text/plain; version=0.0.4"
            elif _API_PATH.fullmatch(path):
                status, text = answer_rest_request(self.core, verb, path, body)
            else:
                status, text = 404, ""
        finally:
            self.in_flight.exit()
        self._send(status, text, content_type=content_type)

    def _send(
        self, status: int, text: str, content_type: str = "application/json", close: bool = False
    ) -> None:
        payload = text.encode("utf-8")
        self.send_response(status)
        if close:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status in (401, 403):
            self.send_header("WWW-Authenticate", 'Bearer realm="tfmodel"')
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("REST %s", format % args)


def start_rest_server(
    core: ServerCore,
    host: str,
    port: int,
    limits: RequestLimits,
    pages: dict[str, Callable[[], str]] | None = None,
    in_flight: InFlight | None = None,
    ssl_context: ssl.SSLContext | None = None,
    auth: TokenAuth | None = None,
) -> tuple[PooledHTTPServer, int]:
    """Starts the REST API on host:port (port 0 picks a free one) in a background thread.

    `pages` adds plain-text GET pages (the metrics page); `in_flight` counts the requests
    being answered, so that a stopping server can wait for them (see `frontend.health`).
    With `ssl_context` it speaks HTTPS only; with `auth` every request needs a bearer token.
    """
    timeout = limits.rest_api_timeout_in_ms / 1000 if limits.rest_api_timeout_in_ms > 0 else None
    attributes = {"core": core, "limits": limits, "timeout": timeout, "auth": auth}
    attributes |= {"pages": pages or {}, "in_flight": in_flight or InFlight()}
    handler = type("RestHandler", (_Handler,), attributes)
    server_class = PooledHTTPServer
    if ssl_context is not None:
        server_class = type("RestTlsServer", (TlsHttpServer,), {"ssl_context": ssl_context})
    try:
        server = server_class((host, port), handler, limits)
    except OSError as error:
        raise UsageError(
            f"--rest_api_port {port}: cannot listen on {host}:{port} ({error.strerror}). "
            "Choose a free port, or 0 to turn the REST API off."
        ) from error
    # serve_forever checks for shutdown every poll_interval: keep stopping quick
    serve = threading.Thread(target=server.serve_forever, args=(0.05,), name="rest", daemon=True)
    serve.start()
    return server, server.server_address[1]
