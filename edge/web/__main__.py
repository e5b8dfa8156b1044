"""Serve the edge page with a model: `python -m edge.web MODEL` (edge/web/server.py has the routes).

Open the printed address in a browser; for a phone on the same Wi-Fi, `--host 0.0.0.0` and the
computer's LAN address. Stop with Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from edge.device.cli import make_parser, report_error
from edge.device.errors import EdgeError
from edge.web.server import make_server

EXAMPLES = """examples:
  python -m edge.web runs/latest/edge/model_int8.tflite
  python -m edge.web runs/latest/edge/model_int8.tflite --host 0.0.0.0   # a phone on the LAN
  python -m edge.web model_int8.tflite --pictures photos/   # then open /?image=/pictures/cat.jpg
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("python -m edge.web", __doc__, EXAMPLES)
    parser.add_argument("model", type=Path, help="a .tflite with TFLite metadata (edge.optimize's)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: this computer only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 takes a free one")
    parser.add_argument("--pictures", type=Path, help="a folder served at /pictures/ for ?image=")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.model, args.host, args.port, args.pictures)
    except EdgeError as err:
        return report_error(err, args.debug)
    server.log_requests = True
    print(f"serving {args.model} at {server.url} (Ctrl-C stops)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
