"""`python -m serving.client COMMAND`: call a model on TF Serving from the command line.

Reads the inputs (`.npy`, images, JSON), makes one `ServingClient` call and prints its answer;
a bad input exits 2 and a server error 1, each with a one-line message (`--debug` for tracebacks).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edge.device.quiet import add_verbose_flag
from serving import tensors
from serving.client.client import CLASSIFY_METHOD, REGRESS_METHOD, ModelMetadata, ServingClient
from serving.client.errors import RemoteError, UsageError, report_error
from serving.client.inputs import (
    IMAGE_SUFFIXES,
    check_input_files,
    load_examples,
    load_predict_inputs,
    split_input_spec,
)
from serving.client.security import read_token
from serving.client.transport import RetryPolicy, TlsFiles

EPILOG = """examples:
  python -m serving.client status   --server localhost:8500 --model digits
  python -m serving.client metadata --server localhost:8500 --model digits --version 1
  python -m serving.client predict  --server localhost:8500 --model digits --input x_test.npy
  python -m serving.client predict  --server localhost:8501 --model digits --rest --input req.json
  python -m serving.client classify --server localhost:8500 --model digits --input pixels=digit.png
  python -m serving.client regress  --server localhost:8500 --model half_plus_two \\
      --signature regress_x_to_y --input examples.json
  python -m serving.client status   --server localhost:8500 --model digits \\
      --root-cert ca.crt --client-cert client.crt --client-key client.key --token-file token.txt
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
    parser.add_argument(
        "--signature",
        default="",
        help="signature name (default serving_default; for classify and regress, the model's one "
        "signature of that kind if serving_default is not)",
    )
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
    parser.add_argument("--token-file", type=Path, help="file holding a bearer token to send")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """Make the call the command line asks for and print its answer (local inputs checked first,
    so a missing file is not reported as a server that cannot be reached)."""
    if args.command in ("predict", "classify", "regress") and not args.input:
        raise UsageError(f"{args.command} needs --input FILE (a .npy, image or .json file)")
    check_input_files(args.input)
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
        token=read_token(args.token_file) if args.token_file else None,
    ) as client:
        pixel_range = client.input_range() if _has_image(args.input) else None
        if args.command == "predict":
            signature = client.signature(args.signature)
            inputs = load_predict_inputs(args.input, signature, args.signature, pixel_range)
            outputs = client.predict(
                inputs, signature=args.signature, output_filter=args.output_filter
            )
            print_arrays(outputs)
        elif args.command == "classify":
            examples = load_examples(args.input, pixel_range)
            signature = args.signature or client.signature_for(CLASSIFY_METHOD)
            print_classifications(client.classify(examples, signature=signature))
        elif args.command == "regress":
            examples = load_examples(args.input, pixel_range)
            signature = args.signature or client.signature_for(REGRESS_METHOD)
            print_arrays({"outputs": client.regress(examples, signature=signature)})
        elif args.command == "metadata":
            print_metadata(client.metadata())
        else:
            for s in client.status():
                print(f"version {s.version}: {s.state} {s.error_code} {s.error_message}".rstrip())


def _has_image(specs: Sequence[str] | None) -> bool:
    return any(split_input_spec(spec)[1].suffix.lower() in IMAGE_SUFFIXES for spec in specs or ())


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
    except (UsageError, RemoteError) as err:
        return report_error(err, args.debug)
    return 0
