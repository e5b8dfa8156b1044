"""`python -m tfmodel.export MODEL`: the command line over `tfmodel.export.saved_model`.

MODEL is a run folder, a `.keras` file (Keras 3 or tf_keras) or a SavedModel folder; the door
(`tfmodel.brought`) describes it, the data it came with (a run's own, or `--data`) gives the
warmup examples, the class names and the model card's evaluation, and the next (or the given)
version is exported and printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from tfmodel.brought import BroughtModel, load_model_data, resolve_model
from tfmodel.brought.card import evaluate
from tfmodel.brought.door import MODEL_KINDS_HELP
from tfmodel.brought.flags import add_model_flags, model_options
from tfmodel.data import reading
from tfmodel.errors import UserError, report_error
from tfmodel.export.saved_model import MODELS_CONFIG_FILE, export_model, read_signatures
from tfmodel.quiet import add_verbose_flag
from tfmodel.tables import format_rows

EXAMPLES = """examples:
  python -m tfmodel.export runs/latest                  # next free version in runs/latest/export
  python -m tfmodel.export runs/latest --version 3      # exactly version 3 (never overwritten)
  python -m tfmodel.export runs/latest --export-base /srv/models
  python -m tfmodel.export runs/latest --sign-key model-signing.key   # signed: model.sig
  python -m tfmodel.export runs/latest --set export.precision=as_trained   # bf16/f16 serving
  python -m tfmodel.export model.keras --export-base /srv/models --data images:photos/
  python -m tfmodel.export exported/ --export-base /srv/models --name flowers --labels labels.txt
  python -m tfmodel.export model.keras --export-base /srv/models --custom-objects my_layers.py
then serve it:
  python -m serving.server --model_config_file runs/latest/export/models.config
or publish it into a live model base through the publish gate:
  python -m serving.publish runs/latest /srv/models/digits
"""


def build_parser() -> argparse.ArgumentParser:
    """The export command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tfmodel.export",
        description="Export a model as a SavedModel for TensorFlow Serving.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_KINDS_HELP)
    parser.add_argument("--version", type=int, help="version number (default: the next free one)")
    parser.add_argument(
        "--export-base", help="where model folders go (default for a run: RUN/export)"
    )
    parser.add_argument(
        "--name", help="the model's name under the export base (default: the file's or folder's)"
    )
    parser.add_argument("--sign-key", help="PEM private key: sign the version (model.sig)")
    add_model_flags(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set export.precision=as_trained (repeatable)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    return parser


def warmup_examples(brought: BroughtModel, splits) -> np.ndarray:
    """The first test examples of the data, or zeros of the model's input without data."""
    count = brought.config.export.warmup_records
    if splits is None:
        return np.zeros((count, *brought.input_shape), np.float32)
    return reading.first_images(splits, "test", count)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        brought = resolve_model(args.model, model_options(args), args.set)
        if args.name:
            brought.config.export.model_name = args.name
        brought, splits = load_model_data(brought)
        path = export_model(
            brought,
            warmup_examples(brought, splits),
            export_base=args.export_base,
            version=args.version,
            sign_key=args.sign_key,
            evaluation=evaluate(brought, splits) if splits is not None else None,
        )
    except UserError as err:
        return report_error(err, args.debug)
    rows = [
        ("model", path.parent.name),
        ("version", path.name),
        ("base path", str(path.parent)),
        ("signatures", ", ".join(f"{n} ({m})" for n, (m, _, _) in read_signatures(path).items())),
        ("server config", str(path.parent.parent / MODELS_CONFIG_FILE)),
    ]
    print(format_rows(rows))
    return 0
