"""The flags `python -m tfmodel.train` and `python -m tfmodel.tune` share, and how flags become
config overrides.

Both commands read a config (defaults, then `--config`, then `--set`, then these flags) and take
the same names for the same ideas: `--output` is where the command writes (train: `output.dir`,
the run folders; tune: `tune.dir`, the search), `--resume` continues what that folder holds.
A command declares its own flags after these and maps every flag to its config key once, in
`overrides_from_flags`, so a flag cannot be accepted and then dropped.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from tfmodel.quiet import add_verbose_flag


def make_parser(
    prog: str, doc: str, examples: str, *, config_help: str, set_example: str, output_help: str
) -> argparse.ArgumentParser:
    """A command's parser, described by the first line of its module's `doc`, with `examples`
    after --help and the shared flags (`add_config_flags`) already on it."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=doc.splitlines()[0],
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(
        parser, config_help=config_help, set_example=set_example, output_help=output_help
    )
    return parser


def add_config_flags(
    parser: argparse.ArgumentParser, *, config_help: str, set_example: str, output_help: str
) -> None:
    """--config, --set, --epochs, --strategy, --output, --resume, --debug and --verbose."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override any config key, e.g. --set {set_example} (repeatable)",
    )
    parser.add_argument("--epochs", type=int, help="training.epochs")
    parser.add_argument(
        "--strategy", help="training.strategy: auto|cpu|gpu|tpu|mirrored|multi_worker"
    )
    parser.add_argument("--output", help=output_help)
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="continue what the output folder holds (default: on)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)


def overrides_from_flags(args: argparse.Namespace, keys: Mapping[str, str]) -> list[str]:
    """`--set` then every flag named in `keys` (flag dest → config key) that was given."""
    overrides = list(args.set)
    for dest, key in keys.items():
        value = getattr(args, dest)
        if value is not None:
            overrides.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return overrides
