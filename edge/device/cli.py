"""What the edge command-line tools share: the parser, the interpreter flags, the error report.

`edge.device.predict` and `edge.device.benchmark` run on the device, so like the runtime this
imports no TensorFlow and no `tfmodel`; its error report stands in for
`tfmodel.errors.report_error` there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.device.errors import EdgeError
from edge.device.quiet import add_verbose_flag
from edge.device.runtime import INTERPRETERS


def make_parser(prog: str, doc: str, examples: str) -> argparse.ArgumentParser:
    """A parser described by the first line of the module's `doc`, with `examples` after --help,
    and `--verbose` (edge.device.quiet)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=doc.splitlines()[0],
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbose_flag(parser)
    return parser


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every runtime CLI shares: threads, interpreter, checksum, signature, key."""
    parser.add_argument("--num-threads", type=int, help="interpreter threads (default: its own)")
    parser.add_argument(
        "--interpreter",
        default="auto",
        choices=["auto", *INTERPRETERS],
        help="which TFLite interpreter package to use (default: the first installed)",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="run the file even without a matching sha256 in model.json",
    )
    parser.add_argument(
        "--verify-key",
        type=Path,
        help="PEM public key: load only a file (and model.json) it signed (needs cryptography)",
    )
    parser.add_argument(
        "--decrypt-key",
        type=Path,
        help="key file of an encrypted .tflite.enc (default: the file $TFMODEL_DECRYPT_KEY names)",
    )


def report_error(err: EdgeError, debug: bool) -> int:
    """Print `err` as one line on stderr and return exit status 2; with `debug`, raise it."""
    if debug:
        raise err
    print(f"error: {err}", file=sys.stderr)
    return err.exit_code
