"""`python -m serving.publish MODEL BASE`: the command line over `serving.publish.gate`.

Prints the verdict as a table and exits 0 when the candidate was published, 1 when the gate
blocked it, 2 on a usage error (one line; the traceback with `--debug`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from serving.publish.gate import DEFAULT_MAX_ACCURACY_DROP, EXIT_BLOCKED, print_verdict, publish
from serving.publish.infra_validation import LOCAL_SERVER
from tfmodel.brought.door import MODEL_KINDS_HELP
from tfmodel.brought.flags import add_model_flags, model_options
from tfmodel.errors import UserError, report_error
from tfmodel.quiet import add_verbose_flag

EXAMPLES = """examples:
  python -m serving.publish runs/latest live/digits_mlp                 # BLESSED or BLOCKED
  python -m serving.publish runs/latest live/digits_mlp --max-accuracy-drop 0.01
  python -m serving.publish runs/latest live/digits_mlp --sign-key model-signing.key
  python -m serving.publish runs/latest live/digits_mlp --infra-server tensorflow_model_server
  python -m serving.publish runs/latest live/digits_mlp --force          # publish even if blocked
  python -m serving.publish model.keras live/flowers --data images:photos/  # a brought model
  python -m serving.publish exported/ live/flowers --data images:photos/ --custom-objects my.py
The verdict is also written to RUN/blessing.json (for a brought model, beside it as
MODEL.blessing.json); exit status 1 when the gate blocks.
"""


def build_parser() -> argparse.ArgumentParser:
    """The publish gate's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m serving.publish",
        description="Publish a model as the next version of a live model base, once it passes\n"
        "infra validation and is no worse than the base's newest version on its data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_KINDS_HELP)
    parser.add_argument(
        "base",
        metavar="BASE",
        help="a live model base (the folder of version folders a server polls): the model goes "
        "in as its next version",
    )
    add_model_flags(parser)
    parser.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=DEFAULT_MAX_ACCURACY_DROP,
        help="how much lower than BASE's newest version the test accuracy may be "
        "(default 0: not worse)",
    )
    parser.add_argument(
        "--infra-server",
        default=LOCAL_SERVER,
        help="the model server command for infra validation "
        "(default: the local server; e.g. tensorflow_model_server)",
    )
    parser.add_argument("--force", action="store_true", help="publish even if the gate blocks")
    parser.add_argument("--sign-key", help="PEM private key: sign the version while staged")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, as for python -m tfmodel.export (repeatable)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        verdict = publish(
            args.model,
            args.base,
            options=model_options(args),
            max_accuracy_drop=args.max_accuracy_drop,
            force=args.force,
            infra_server=args.infra_server,
            sign_key=args.sign_key,
            overrides=args.set,
        )
    except UserError as err:
        return report_error(err, args.debug)
    print_verdict(verdict)
    return 0 if verdict.published else EXIT_BLOCKED
