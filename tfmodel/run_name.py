"""A run's name when no layer of the config gives one: `<data>_<model>`, e.g. `photos_mobilenet_v2`.

    data    images:DIR → photos; npz:PATH and idx:DIR → the file's or folder's own name
            (npz:data/mnist.npz → mnist); sklearn:NAME, keras:NAME, tfds:NAME[:CONFIG] → NAME
    model   model.from_keras → the file's name; else model.builder → its FUNCTION; else model.name

The run folder (`<output.dir>/<name>-<timestamp>`, `tfmodel.runs`) and the export (unless
`export.model_name` is set) take it. Only letters, digits and `_` are kept.
"""

from __future__ import annotations

import re
from pathlib import PurePath

PHOTOS = "photos"  # what an `images:DIR` run's name starts with, whatever the folder is called
NAMED_BY_PATH = ("npz", "idx")  # sources whose argument is a path, named by its last part


def derive_run_name(source: str, model: str, builder: str | None, from_keras: str | None) -> str:
    """`<data>_<model>` for the resolved `data.source` and `model.name`, `model.builder`,
    `model.from_keras` (see the module docstring)."""
    return f"{_data_name(source)}_{_model_name(model, builder, from_keras)}"


def _data_name(source: str) -> str:
    scheme, _, argument = source.partition(":")
    if scheme == "images":
        return PHOTOS
    if scheme in NAMED_BY_PATH:
        return _word(PurePath(argument).stem) or scheme
    return _word(argument.partition(":")[0]) or scheme


def _model_name(name: str, builder: str | None, from_keras: str | None) -> str:
    if from_keras:
        return _word(PurePath(from_keras).stem) or "keras"
    if builder:
        return _word(builder.rpartition(":")[2]) or "builder"
    return name


def _word(text: str) -> str:
    """`text` in lower case with each run of other characters than letters and digits as `_`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
