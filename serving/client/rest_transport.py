"""The client's REST transport: TF Serving's `/v1/models/...` JSON API behind the gRPC messages.

Requests and responses are the same `tensorflow_serving.apis` messages the gRPC transport
sends, translated to TF Serving's JSON formats: Predict as row `instances` or columnar `inputs`
(bytes as `{"b64": ...}`), Classify/Regress as `examples` with `results` back. JSON does not
say a tensor's dtype, so outputs are typed from the signature in the model's metadata.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from serving import apis, tensors, tensors_json
from serving.apis import example_pb2, meta_graph_pb2
from serving.client.errors import RemoteError, UsageError
from serving.client.security import explain, is_security_failure
from serving.client.transport import TlsFiles

# The gRPC status behind each HTTP status TF Serving answers (400 also covers FAILED_PRECONDITION).
_CODE_OF_HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class RestTransport:
    """HTTP(S) to `server`; `signature(name)` gives a signature's dtypes to type JSON outputs."""

    def __init__(
        self,
        server: str,
        timeout: float,
        tls: TlsFiles | None,
        columnar: bool,
        signature: Callable[[str], meta_graph_pb2.SignatureDef],
        token: str | None = None,
    ):
        self._timeout = timeout
        self._server, self._tls, self._token = server, tls, token
        self._columnar = columnar
        self._signature = signature
        self._context = None
        if tls is not None:
            tls.read()  # checks the files are there
            self._context = ssl.create_default_context(cafile=tls.root_cert)
            if tls.client_cert:
                self._context.load_cert_chain(tls.client_cert, tls.client_key)
        scheme = "https" if tls else "http"
        self._base = server.rstrip("/") if "://" in server else f"{scheme}://{server}"

    def call(self, method: str, request: Any) -> Any:
        """Send a gRPC request message as TF Serving's JSON and read the JSON answer back."""
        spec = request.model_spec
        url = self._base + model_path(spec)
        if method == "status":
            answer = self._send(url, None)
            return json_format.ParseDict(answer, apis.GetModelStatusResponse())
        if method == "metadata":
            return read_metadata(self._send(url + "/metadata", None))
        body: dict[str, Any] = (
            {"signature_name": spec.signature_name} if spec.signature_name else {}
        )
        if method == "predict":
            body.update(self._predict_body(request))
            return self._read_predictions(request, self._send(url + ":predict", body))
        examples = request.input.example_list.examples
        body["examples"] = [example_to_json(example) for example in examples]
        results = self._send(f"{url}:{method}", body)["results"]
        if method == "classify":
            response = apis.ClassificationResponse()
            for pairs in results:
                classes = response.result.classifications.add().classes
                for label, score in pairs:
                    classes.add(label=label, score=score)
            return response
        response = apis.RegressionResponse()
        for value in results:
            response.result.regressions.add(value=value)
        return response

    def close(self) -> None:
        """Nothing to release: each call opens its own connection."""

    def _predict_body(self, request: apis.PredictRequest) -> dict[str, Any]:
        arrays = {name: tensors.make_ndarray(proto) for name, proto in request.inputs.items()}
        if self._columnar:
            return {
                "inputs": {
                    k: tensors_json.ndarray_to_json_value(v, as_bytes=True)
                    for k, v in arrays.items()
                }
            }
        sizes = {len(v) if v.ndim else None for v in arrays.values()}
        if len(sizes) != 1 or None in sizes:
            raise UsageError(
                f"row format needs inputs with one batch size, got shapes "
                f"{ {k: v.shape for k, v in arrays.items()} }; use the columnar format (--columnar)"
            )
        rows = range(sizes.pop())
        instances = [
            {k: tensors_json.ndarray_to_json_value(v[i], as_bytes=True) for k, v in arrays.items()}
            for i in rows
        ]
        return {"instances": instances}

    def _read_predictions(
        self, request: apis.PredictRequest, answer: dict[str, Any]
    ) -> apis.PredictResponse:
        outputs = self._signature(request.model_spec.signature_name).outputs
        if "predictions" in answer:
            rows = answer["predictions"]
            if len(outputs) == 1:
                values = {next(iter(outputs)): rows}
            else:
                values = {name: [row[name] for row in rows] for name in outputs}
        else:
            columns = answer["outputs"]
            values = {next(iter(outputs)): columns} if len(outputs) == 1 else columns
        wanted = set(request.output_filter) or set(values)
        response = apis.PredictResponse()
        for name, value in values.items():
            if name in wanted:
                array = tensors_json.json_value_to_ndarray(value, outputs[name].dtype)
                response.outputs[name].CopyFrom(tensors.make_tensor_proto(array))
        return response

    def _send(self, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        http_request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(
                http_request, timeout=self._timeout, context=self._context
            ) as reply:
                text = reply.read()
        except urllib.error.HTTPError as err:
            text = err.read()
            code = _CODE_OF_HTTP_STATUS.get(err.code, "UNKNOWN")
            details = explain(code, _error_message(text), self._server, self._tls, self._token)
            raise RemoteError(code, details, http_status=err.code) from None
        except urllib.error.URLError as err:
            raise self._unreachable(url, err.reason) from None
        except OSError as err:  # a timeout or reset while reading the answer
            raise self._unreachable(url, err) from None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise RemoteError("INTERNAL", f"{url} answered non-JSON: {text[:200]!r}") from None

    def _unreachable(self, url: str, reason: object) -> RemoteError:
        code = "DEADLINE_EXCEEDED" if isinstance(reason, TimeoutError) else "UNAVAILABLE"
        details = explain(code, f"{url}: {reason}", self._server, self._tls, self._token)
        return RemoteError(code, details, retryable=not is_security_failure(details))


def model_path(spec: apis.ModelSpec) -> str:
    """`/v1/models/NAME[/versions/V | /labels/L]` for a ModelSpec."""
    path = "/v1/models/" + urllib.parse.quote(spec.name, safe="")
    if spec.HasField("version"):
        return f"{path}/versions/{spec.version.value}"
    if spec.version_label:
        return f"{path}/labels/{urllib.parse.quote(spec.version_label, safe='')}"
    return path


def read_metadata(answer: dict[str, Any]) -> apis.GetModelMetadataResponse:
    """A GetModelMetadataResponse from TF Serving's metadata JSON (signatures unpacked)."""
    response = apis.GetModelMetadataResponse()
    json_format.ParseDict(answer.get("model_spec", {}), response.model_spec)
    signatures = apis.SignatureDefMap()
    json_format.ParseDict(answer["metadata"]["signature_def"], signatures)
    response.metadata["signature_def"].Pack(signatures)
    return response


def example_to_json(example: example_pb2.Example) -> dict[str, Any]:
    """A tf.Example as TF Serving's JSON: float lists, integer lists, and bytes as b64."""
    features: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            # json writes every float with a point or exponent: TF Serving reads floats back.
            features[name] = list(feature.float_list.value)
        elif kind == "int64_list":
            features[name] = list(feature.int64_list.value)
        elif kind == "bytes_list":
            features[name] = [
                {"b64": base64.b64encode(v).decode("ascii")} for v in feature.bytes_list.value
            ]
    return features


def _error_message(text: bytes) -> str:
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text.decode("utf-8", errors="replace")[:500]
