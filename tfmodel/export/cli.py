"""`python -m tfmodel.export RUN_DIR`: the command line over `tfmodel.export.saved_model`.

Loads the run, applies `--set`, takes the warmup examples from its test split, exports the next
(or the given) version and prints where it went. The publish gate moved to the serving side,
`python -m serving.publish RUN BASE`; `--publish BASE` is kept, hidden, only to say so.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from tfmodel.config import Config, apply_overrides
from tfmodel.data import load_splits
from tfmodel.data.splits import image_recipe
from tfmodel.errors import UserError, report_error
from tfmodel.export.saved_model import (
    BYTES_SIGNATURE,
    CLASSIFY_SIGNATURE,
    MODELS_CONFIG_FILE,
    PREDICT_SIGNATURE,
    export_for_serving,
)
from tfmodel.quiet import add_verbose_flag
from tfmodel.runs import load_run
from tfmodel.tables import format_rows

PUBLISH_COMMAND = "python -m serving.publish"
# Flags (each with a value) left out of the rewritten command: the gate publishes as BASE's next.
NOT_FOR_PUBLISH = ("--publish", "--version", "--export-base")
EXAMPLES = f"""examples:
  python -m tfmodel.export runs/latest                  # next free version in runs/latest/export
  python -m tfmodel.export runs/latest --version 3      # exactly version 3 (never overwritten)
  python -m tfmodel.export runs/latest --export-base /srv/models
  python -m tfmodel.export runs/latest --sign-key model-signing.key   # signed: model.sig
  python -m tfmodel.export runs/latest --set export.precision=as_trained   # bf16/f16 serving
then serve it:
  python -m serving.server --model_config_file runs/latest/export/models.config
or publish it into a live model base through the publish gate:
  {PUBLISH_COMMAND} runs/latest /srv/models/digits
"""


def build_parser() -> argparse.ArgumentParser:
    """The export command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tfmodel.export",
        description="Export a trained run as a SavedModel for TensorFlow Serving.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", help="a run folder written by python -m tfmodel.train")
    parser.add_argument("--version", type=int, help="version number (default: the next free one)")
    parser.add_argument("--export-base", help="where model folders go (default: RUN_DIR/export)")
    parser.add_argument("--sign-key", help="PEM private key: sign the version (model.sig)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set export.precision=as_trained (repeatable)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    parser.add_argument("--publish", metavar="BASE", help=argparse.SUPPRESS)  # moved: see main
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Known args first: `--publish BASE --force` must reach the "moved" message, not argparse's.
    args, unknown = parser.parse_known_args(argv)
    if args.publish:
        return report_error(UserError(publish_moved(argv, args)), args.debug)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        config, model = load_run(args.run_dir)
        apply_overrides(config, args.set)
        splits = load_splits(config.data, config.training.seed)
        path = export_for_serving(
            model,
            config,
            splits.x_test[: config.export.warmup_records],
            run_dir=args.run_dir,
            export_base=args.export_base,
            version=args.version,
            class_names=splits.class_names,
            sign_key=args.sign_key,
        )
    except UserError as err:
        return report_error(err, args.debug)
    rows = [
        ("model", path.parent.name),
        ("version", path.name),
        ("base path", str(path.parent)),
        ("signatures", ", ".join(_signature_names(config))),
        ("server config", str(path.parent.parent / MODELS_CONFIG_FILE)),
    ]
    print(format_rows(rows))
    return 0


def _signature_names(config: Config) -> list[str]:
    names = [f"{PREDICT_SIGNATURE} (predict)", f"{CLASSIFY_SIGNATURE} (classify)"]
    if image_recipe(config.data) is not None:
        names.append(f"{BYTES_SIGNATURE} (predict, encoded images)")
    return names


def publish_moved(argv: Sequence[str] | None, args: argparse.Namespace) -> str:
    """Says where `--publish BASE` went, with the user's own command rewritten for it."""
    kept, skip_value = [], False
    for token in sys.argv[1:] if argv is None else argv:
        if skip_value:
            skip_value = False
        elif token.split("=", 1)[0] in NOT_FOR_PUBLISH:
            skip_value = "=" not in token
        else:
            kept.append(token)
    kept.remove(args.run_dir)
    command = f"{PUBLISH_COMMAND} {shlex.join([args.run_dir, args.publish, *kept])}"
    return f"the publish gate moved out of tfmodel.export; run: {command}"
