"""A client for TensorFlow Serving's public API: numpy in, numpy out, over gRPC or REST.

It speaks only the protocol of `tensorflow_model_server` (the `tensorflow_serving.apis` stubs,
or the `/v1/models/...` JSON API), so it works unchanged against real TF Serving and against
`python -m serving.server`. Every call has a deadline and is retried with bounded exponential
backoff while the server is UNAVAILABLE; any other failure raises `RemoteError` (code + details).

    with ServingClient("localhost:8500", "digits") as client:
        probabilities = client.predict(images)["probabilities"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from serving import apis, tensors
from serving.apis import meta_graph_pb2
from serving.client.errors import UsageError
from serving.client.inputs import make_input, sole_input_name
from serving.client.security import warn_if_token_in_clear
from serving.client.transport import GrpcTransport, RetryPolicy, TlsFiles, call_with_retry

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"  # a SignatureDef's method_name, per API
REGRESS_METHOD = "tensorflow/serving/regress"
INPUT_RANGE_SIGNATURE = "input_range"  # written by tfmodel.export
_STATUS_FIELD = apis.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"]
_ERROR_CODES = _STATUS_FIELD.message_type.fields_by_name["error_code"].enum_type.values_by_number


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """What GetModelMetadata answers: the served model's name, version and signatures."""

    name: str
    version: int
    signatures: dict[str, meta_graph_pb2.SignatureDef]


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version in GetModelStatus: its state (AVAILABLE, LOADING, …) and error, if any."""

    version: int
    state: str
    error_code: str
    error_message: str


class ServingClient:
    """One model on one server; `version` or `label` pins a version, else the latest is used.

    `tls` (PEM files) makes it speak TLS, or mutual TLS with a client cert and key; `token` is
    sent as `authorization: Bearer <token>` on every call, to a server with --auth_token_file.
    """

    def __init__(
        self,
        server: str,
        model: str,
        *,
        version: int | None = None,
        label: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        tls: TlsFiles | None = None,
        rest: bool = False,
        columnar: bool = False,
        token: str | None = None,
    ):
        if version is not None and label:
            raise UsageError("pass either a version or a version label, not both")
        self.model, self.version, self.label = model, version, label
        self._retry = retry or RetryPolicy()
        self._signatures: dict[str, meta_graph_pb2.SignatureDef] | None = None
        warn_if_token_in_clear(server, token, tls)
        if rest:  # imported here: urllib and ssl cost a gRPC caller 0.1 s at every start
            from serving.client.rest_transport import RestTransport

            self._transport = RestTransport(server, timeout, tls, columnar, self.signature, token)
        else:
            self._transport = GrpcTransport(server, timeout, tls, self._retry, token)

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def model_spec(self, signature: str = "") -> apis.ModelSpec:
        """The ModelSpec naming this client's model, version or label, and `signature`."""
        spec = apis.ModelSpec(name=self.model, signature_name=signature)
        if self.version is not None:
            spec.version.value = self.version
        elif self.label:
            spec.version_label = self.label
        return spec

    def predict(
        self,
        inputs: Mapping[str, np.ndarray] | np.ndarray,
        *,
        signature: str = DEFAULT_SIGNATURE,
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run a Predict signature on named arrays (or one array for a one-input signature)."""
        if not isinstance(inputs, Mapping):
            inputs = {sole_input_name(self.signature(signature), signature): inputs}
        request = apis.PredictRequest(
            model_spec=self.model_spec(signature), output_filter=list(output_filter)
        )
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tensors.make_tensor_proto(value))
        response = self._call("predict", request)
        return {name: tensors.make_ndarray(proto) for name, proto in response.outputs.items()}

    def classify(
        self, examples: Sequence[Mapping[str, Any]], *, signature: str = ""
    ) -> dict[str, np.ndarray]:
        """Classify tf.Examples given as {feature: values}: `classes` (labels) and `scores`."""
        request = apis.ClassificationRequest(
            model_spec=self.model_spec(signature), input=make_input(examples)
        )
        results = self._call("classify", request).result.classifications
        labels = [[c.label.encode() for c in result.classes] for result in results]
        return {
            "classes": np.array(labels, dtype=object),
            "scores": np.array([[c.score for c in r.classes] for r in results], np.float32),
        }

    def regress(self, examples: Sequence[Mapping[str, Any]], *, signature: str = "") -> np.ndarray:
        """Regress tf.Examples given as {feature: values}: one value per example."""
        request = apis.RegressionRequest(
            model_spec=self.model_spec(signature), input=make_input(examples)
        )
        results = self._call("regress", request).result.regressions
        return np.array([r.value for r in results], np.float32)

    def metadata(self) -> ModelMetadata:
        """The served version and its signature definitions."""
        request = apis.GetModelMetadataRequest(
            model_spec=self.model_spec(), metadata_field=["signature_def"]
        )
        response = self._call("metadata", request)
        signatures = apis.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        spec = response.model_spec
        return ModelMetadata(spec.name, spec.version.value, dict(signatures.signature_def))

    def status(self) -> list[VersionStatus]:
        """The state of each version of the model the server knows of."""
        request = apis.GetModelStatusRequest(model_spec=self.model_spec())
        response = self._call("status", request)
        state_name = apis.ModelVersionStatus.State.Name
        return [
            VersionStatus(
                s.version,
                state_name(s.state),
                _ERROR_CODES[s.status.error_code].name,
                s.status.error_message,
            )
            for s in response.model_version_status
        ]

    def input_range(self) -> tuple[float, float] | None:
        """The raw input range (low, high) the model was trained on, if its export records it.

        tfmodel's exports have an `input_range` signature (float `x` in; `low`, `high` out);
        None for other models.
        """
        if INPUT_RANGE_SIGNATURE not in self._signature_defs():
            return None
        outputs = self.predict({"x": np.zeros(1, np.float32)}, signature=INPUT_RANGE_SIGNATURE)
        return float(outputs["low"][0]), float(outputs["high"][0])

    def signature(self, name: str) -> meta_graph_pb2.SignatureDef:
        """A signature of the served model, from its metadata (fetched once per client)."""
        signatures = self._signature_defs()
        name = name or DEFAULT_SIGNATURE
        if name not in signatures:
            known = ", ".join(sorted(signatures))
            raise UsageError(f"model {self.model!r} has no signature {name!r}; it has {known}")
        return signatures[name]

    def signature_for(self, method_name: str) -> str:
        """The signature a Classify or Regress call naming none should use: `serving_default` if
        its method is `method_name`, else the model's one signature that has it (tfmodel's
        exports pair a Predict `serving_default` with a `classify`, which TF Serving would not
        pick: it answers "Expected one or two output Tensors")."""
        signatures = self._signature_defs()
        default = signatures.get(DEFAULT_SIGNATURE)
        if default is not None and default.method_name == method_name:
            return DEFAULT_SIGNATURE
        matching = sorted(name for name, s in signatures.items() if s.method_name == method_name)
        if len(matching) == 1:
            return matching[0]
        call = method_name.rsplit("/", 1)[-1]
        listed = ", ".join(f"{name} ({s.method_name})" for name, s in sorted(signatures.items()))
        problem = f"{len(matching)} {call} signatures" if matching else f"no {call} signature"
        raise UsageError(
            f"model {self.model!r} has {problem} (and {DEFAULT_SIGNATURE!r} is not one): pass "
            f"--signature NAME; its signatures are {listed}"
        )

    def _signature_defs(self) -> dict[str, meta_graph_pb2.SignatureDef]:
        if self._signatures is None:
            self._signatures = self.metadata().signatures
        return self._signatures

    def _call(self, method: str, request: Any) -> Any:
        return call_with_retry(lambda: self._transport.call(method, request), self._retry)
