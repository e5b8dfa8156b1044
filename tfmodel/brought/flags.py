"""The flags of every command that takes MODEL: how it is brought (`ModelOptions`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tfmodel.brought.description import OUTPUTS, ModelOptions
from tfmodel.brought.keras_models import CUSTOM_OBJECTS_FLAG, TRUST_FLAG


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say how MODEL is brought (`tfmodel.brought.ModelOptions`)."""
    parser.add_argument(
        "--data",
        metavar="SOURCE",
        help="the data the model comes with (images:DIR, npz:FILE, tfds:NAME, ...; a run's own by "
        "default): its warmup, class names, evaluation and calibration examples",
    )
    parser.add_argument("--labels", help="a text file naming the classes, one a line")
    parser.add_argument(
        "--outputs",
        choices=OUTPUTS,
        default="auto",
        help="what the model's output is (default: read from its last layer, or sniffed)",
    )
    parser.add_argument(
        CUSTOM_OBJECTS_FLAG.split()[0],
        metavar="FILE.py",
        help="a file registering your own layers (keras.saving.register_keras_serializable)",
    )
    parser.add_argument(
        TRUST_FLAG,
        action="store_true",
        help="load .keras files with Keras' safe_mode off (Lambda layers run their code)",
    )


def model_options(args: argparse.Namespace) -> ModelOptions:
    """The ModelOptions the flags of `add_model_flags` give."""
    return ModelOptions(
        custom_objects=Path(args.custom_objects) if args.custom_objects else None,
        trust_code=args.trust_model_code,
        labels=Path(args.labels) if args.labels else None,
        outputs=args.outputs,
        data=args.data,
    )
