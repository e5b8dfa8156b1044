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
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from serving import apis
from serving.server import service
from serving.server.core import ServerCore
from serving.server.inference import signature_key
from serving.server.limits import PooledHTTPServer, RequestLimits, RestRefused, read_rest_body
from serving.server.rest_examples import (
    parse_examples,
    write_classification_result,
    write_regression_result,
)
from serving.server.rest_json import (
    parse_json_object,
    parse_predict_inputs,
    signature_name_of,
    write_error,
    write_model_metadata,
    write_predict_response,
    write_proto,
)
from serving.server.status import as_serving_error, invalid_argument
from tfmodel.errors import UserError

log = logging.getLogger(__name__)

_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
_PREDICTION_PATH = re.compile(
    rf"/v1/models/([^/:]+){_VERSION_OR_LABEL}:(classify|regress|predict)", re.IGNORECASE
)
_MODEL_PATH = re.compile(rf"/v1/models(?:/([^/:]+))?{_VERSION_OR_LABEL}(?:/(metadata))?", re.I)
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)


def answer_rest_request(core: ServerCore, verb: str, path: str, body: bytes) -> tuple[int, str]:
    """The HTTP status and JSON body TF Serving answers to one REST request."""
    try:
        return 200, _dispatch(core, verb, path, body)
    except Exception as error:  # every failure is answered as JSON, whatever it was
        status = as_serving_error(error)
        if status.http_status >= 500:
            log.exception("REST %s %s failed", verb, path)
        return status.http_status, write_error(status.message)


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
    """Reads one HTTP request, answers it with `answer_rest_request`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients with sessions expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't delay the body
    core: ServerCore  # set on the subclass built by start_rest_server, as are
    limits: RequestLimits  # the request limits and `timeout`, the socket timeout in seconds

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, verb: str) -> None:
        try:
            body = read_rest_body(self.headers, self.rfile, self.limits)
        except RestRefused as refused:  # the rest of the request is unread: drop the connection
            self._send(refused.http_status, write_error(refused.message), close=True)
            return
        path = urllib.parse.urlsplit(self.path).path
        if _API_PATH.fullmatch(path):
            self._send(*answer_rest_request(self.core, verb, path, body))
        else:
            self._send(404, "")

    def _send(self, status: int, text: str, close: bool = False) -> None:
        payload = text.encode("utf-8")
        self.send_response(status)
        if close:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("REST %s", format % args)


def start_rest_server(
    core: ServerCore, host: str, port: int, limits: RequestLimits
) -> tuple[PooledHTTPServer, int]:
    """Starts the REST API on host:port (port 0 picks a free one) in a background thread."""
    timeout = limits.rest_api_timeout_in_ms / 1000 if limits.rest_api_timeout_in_ms > 0 else None
    handler = type("RestHandler", (_Handler,), {"core": core, "limits": limits, "timeout": timeout})
    try:
        server = PooledHTTPServer((host, port), handler, limits)
    except OSError as error:
        raise UserError(
            f"--rest_api_port {port}: cannot listen on {host}:{port} ({error.strerror}). "
            "Choose a free port, or 0 to turn the REST API off."
        ) from error
    # serve_forever checks for shutdown every poll_interval: keep stopping quick
    serve = threading.Thread(target=server.serve_forever, args=(0.05,), name="rest", daemon=True)
    serve.start()
    return server, server.server_address[1]
