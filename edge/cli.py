"""What the on-device command-line tools (`edge.predict`, `edge.benchmark`) share.

The interpreter flags and the one-line error report. Like the runtime, this imports no TensorFlow
and no `tfmodel`, so its error report stands in for `tfmodel.errors.report_error` on the device.
"""

from __future__ import annotations

import argparse
import sys

from edge.runtime import INTERPRETERS, EdgeError


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every runtime CLI shares: threads, interpreter choice, checksum check."""
    parser.add_argument("--num-threads", type=int, help="interpreter threads (default: its own)")
    parser.add_argument(
        "--interpreter", default="auto", choices=["auto", *INTERPRETERS],
        help="which TFLite interpreter package to use (default: the first installed)",
    )  # fmt: skip
    parser.add_argument(
        "--no-verify", dest="verify", action="store_false",
        help="run the file even without a matching sha256 in model.json",
    )  # fmt: skip


def report_error(err: EdgeError, debug: bool) -> int:
    """Print `err` as one line on stderr and return exit status 2; with `debug`, raise it."""
    if debug:
        raise err
    print(f"error: {err}", file=sys.stderr)
    return err.exit_code
