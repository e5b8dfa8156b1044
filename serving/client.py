"""A client for TensorFlow Serving's public API: numpy in, numpy out, over gRPC or REST.

It speaks only the protocol of `tensorflow_model_server` (the `tensorflow_serving.apis` stubs,
or the `/v1/models/...` JSON API), so it works unchanged against real TF Serving and against
`python -m serving.server`. Every call has a deadline and is retried with bounded exponential
backoff while the server is UNAVAILABLE; any other failure raises `ServerError` (code + details).

    with ServingClient("localhost:8500", "digits") as client:
        probabilities = client.predict(images)["probabilities"]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import tensors
from serving.client_inputs import (
    load_examples,
    load_predict_inputs,
    make_input,
    sole_input_name,
)
from serving.rest_transport import RestTransport
from serving.transport import GrpcTransport, RetryPolicy, ServerError, TlsFiles, call_with_retry
from tfmodel.errors import UserError, report_error

DEFAULT_SIGNATURE = "serving_default"
_STATUS_FIELD = get_model_status_pb2.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"]
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
    """One model on one server; `version` or `label` pins a version, else the latest is used."""

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
    ):
        if version is not None and label:
            raise UserError("pass either a version or a version label, not both")
        self.model, self.version, self.label = model, version, label
        self._retry = retry or RetryPolicy()
        self._signatures: dict[str, meta_graph_pb2.SignatureDef] | None = None
        if rest:
            self._transport = RestTransport(server, timeout, tls, columnar, self.signature)
        else:
            self._transport = GrpcTransport(server, timeout, tls, self._retry)

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def model_spec(self, signature: str = "") -> model_pb2.ModelSpec:
        """The ModelSpec naming this client's model, version or label, and `signature`."""
        spec = model_pb2.ModelSpec(name=self.model, signature_name=signature)
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
        request = predict_pb2.PredictRequest(
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
        request = classification_pb2.ClassificationRequest(
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
        request = regression_pb2.RegressionRequest(
            model_spec=self.model_spec(signature), input=make_input(examples)
        )
        results = self._call("regress", request).result.regressions
        return np.array([r.value for r in results], np.float32)

    def metadata(self) -> ModelMetadata:
        """The served version and its signature definitions."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self.model_spec(), metadata_field=["signature_def"]
        )
        response = self._call("metadata", request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        spec = response.model_spec
        return ModelMetadata(spec.name, spec.version.value, dict(signatures.signature_def))

    def status(self) -> list[VersionStatus]:
        """The state of each version of the model the server knows of."""
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=self.model_spec())
        response = self._call("status", request)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        return [
            VersionStatus(
                s.version,
                state_name(s.state),
                _ERROR_CODES[s.status.error_code].name,
                s.status.error_message,
            )
            for s in response.model_version_status
        ]

    def signature(self, name: str) -> meta_graph_pb2.SignatureDef:
        """A signature of the served model, from its metadata (fetched once per client)."""
        if self._signatures is None:
            self._signatures = self.metadata().signatures
        name = name or DEFAULT_SIGNATURE
        if name not in self._signatures:
            known = ", ".join(sorted(self._signatures))
            raise UserError(f"model {self.model!r} has no signature {name!r}; it has {known}")
        return self._signatures[name]

    def _call(self, method: str, request: Any) -> Any:
        return call_with_retry(lambda: self._transport.call(method, request), self._retry)


EPILOG = """examples:
  python -m serving.client status   --server localhost:8500 --model digits
  python -m serving.client metadata --server localhost:8500 --model digits --version 1
  python -m serving.client predict  --server localhost:8500 --model digits --input x_test.npy
  python -m serving.client predict  --server localhost:8501 --model digits --rest --input req.json
  python -m serving.client classify --server localhost:8500 --model digits \\
      --signature classify --input pixels=digit.png
  python -m serving.client regress  --server localhost:8500 --model half_plus_two \\
      --signature regress_x_to_y --input examples.json
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serving.client",
        description="Call a model on TensorFlow Serving (or python -m serving.server).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["predict", "classify", "regress", "metadata", "status"])
    parser.add_argument(
        "--server", default="localhost:8500", help="HOST:PORT (default %(default)s)"
    )
    parser.add_argument("--model", required=True, help="the model name the server serves")
    pinned = parser.add_mutually_exclusive_group()
    pinned.add_argument("--version", type=int, help="a version number (default: the latest)")
    pinned.add_argument("--label", help="a version label from the server's model config")
    parser.add_argument("--signature", default="", help="signature name (default serving_default)")
    parser.add_argument(
        "--input",
        action="extend",
        nargs="+",
        default=[],
        metavar="[NAME=]FILE",
        help=".npy, image or .json; NAME is the input key (predict) or tf.Example feature",
    )
    parser.add_argument("--output-filter", nargs="+", default=[], help="predict only these outputs")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline per call, seconds")
    parser.add_argument("--retries", type=int, default=5, help="tries while UNAVAILABLE")
    parser.add_argument("--rest", action="store_true", help="use the REST API (port 8501)")
    parser.add_argument("--columnar", action="store_true", help="REST predict with `inputs`")
    parser.add_argument("--root-cert", type=Path, help="PEM CA certificate: use TLS")
    parser.add_argument("--client-cert", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--client-key", type=Path, help="PEM client key (mutual TLS)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """Make the call the command line asks for and print its answer."""
    use_tls = args.root_cert or args.client_cert or args.client_key
    tls = TlsFiles(args.root_cert, args.client_cert, args.client_key) if use_tls else None
    with ServingClient(
        args.server,
        args.model,
        version=args.version,
        label=args.label,
        timeout=args.timeout,
        retry=RetryPolicy(attempts=max(1, args.retries)),
        tls=tls,
        rest=args.rest,
        columnar=args.columnar,
    ) as client:
        if args.command in ("predict", "classify", "regress") and not args.input:
            raise UserError(f"{args.command} needs --input FILE (a .npy, image or .json file)")
        if args.command == "predict":
            signature = client.signature(args.signature)
            inputs = load_predict_inputs(args.input, signature, args.signature)
            outputs = client.predict(
                inputs, signature=args.signature, output_filter=args.output_filter
            )
            print_arrays(outputs)
        elif args.command == "classify":
            examples = load_examples(args.input)
            print_classifications(client.classify(examples, signature=args.signature))
        elif args.command == "regress":
            print_arrays(
                {"outputs": client.regress(load_examples(args.input), signature=args.signature)}
            )
        elif args.command == "metadata":
            print_metadata(client.metadata())
        else:
            for s in client.status():
                print(f"version {s.version}: {s.state} {s.error_code} {s.error_message}".rstrip())


def print_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    with np.printoptions(precision=5, suppress=True, threshold=200, linewidth=100):
        for name, array in sorted(arrays.items()):
            print(f"{name} ({array.dtype}, shape {array.shape}):\n{array}")


def print_classifications(result: Mapping[str, np.ndarray]) -> None:
    print(f"{'#':>3}  {'top class':<12}{'score':>8}")
    for index, (labels, scores) in enumerate(zip(result["classes"], result["scores"], strict=True)):
        best = int(np.argmax(scores))
        label = labels[best].decode(errors="replace") if len(labels) else str(best)
        print(f"{index:>3}  {label:<12}{scores[best]:>8.4f}")


def print_metadata(metadata: ModelMetadata) -> None:
    print(f"model {metadata.name} version {metadata.version}")
    for name, signature in sorted(metadata.signatures.items()):
        print(f"signature {name!r} ({signature.method_name or 'no method'})")
        for side, infos in (("input ", signature.inputs), ("output", signature.outputs)):
            for key, info in sorted(infos.items()):
                shape = info.tensor_shape
                dims = "unknown" if shape.unknown_rank else tuple(d.size for d in shape.dim)
                print(f"  {side} {key}: {tensors.dtype_name(info.dtype)} {dims}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (UserError, ServerError) as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
