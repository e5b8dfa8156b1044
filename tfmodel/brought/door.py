"""The door: MODEL (a run folder, a `.keras` file, a SavedModel folder) → one `BroughtModel`.

`resolve_model` decides once what the path is and loads it with the Keras that wrote it (or
none); `load_model_data` reads the data a model is brought with and checks its classes against
the model's output. Everything after takes the description and branches on nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfmodel import runs
from tfmodel.brought.description import (
    KERAS3,
    OUTPUTS,
    RUN,
    SAVED_MODEL,
    BroughtModel,
    ModelOptions,
    file_sha256,
    image_recipe_for,
)
from tfmodel.brought.keras_models import described_keras, ends_in_softmax, load_keras_file
from tfmodel.brought.saved_models import described_saved_model, is_saved_model, saved_model_files
from tfmodel.config import Config, apply_overrides
from tfmodel.errors import UserError, first_line
from tfmodel.models.checks import saved_keras_version

MODEL_KINDS_HELP = (
    "a run folder (python -m tfmodel.train), a .keras file (Keras 3 or tf_keras) or a "
    "SavedModel folder"
)


def resolve_model(
    path: str | Path, options: ModelOptions | None = None, overrides: Sequence[str] = ()
) -> BroughtModel:
    """Load MODEL at `path` and describe it; `overrides` (`--set KEY=VALUE`) go on its config.

    Raises UserError (one line) for a path that is no model, a model Keras refuses (a class not
    registered, a Lambda layer under safe_mode), or one that is not a single-input classifier.
    """
    path = Path(path).expanduser()
    options = options or ModelOptions()
    if options.outputs not in OUTPUTS:
        raise UserError(f"--outputs {options.outputs!r} must be one of {', '.join(OUTPUTS)}")
    if options.custom_objects is not None:
        import_custom_objects(options.custom_objects)
    if (path / runs.MODEL_FILE).is_file() and (path / runs.CONFIG_FILE).is_file():
        return _run_folder(path, options, overrides)
    if path.is_file() and path.suffix == ".keras":
        return _keras_file(path, options, overrides)
    if is_saved_model(path):
        fields = described_saved_model(path, options.outputs)
        sha = file_sha256(saved_model_files(path))
        return _brought(path, SAVED_MODEL, sha, fields, options, overrides)
    raise UserError(f"{path} is no model; give {MODEL_KINDS_HELP}")


def _run_folder(path: Path, options: ModelOptions, overrides: Sequence[str]) -> BroughtModel:
    config, model = runs.load_run(path)
    apply_overrides(config, overrides)
    config.export.base_dir = config.export.base_dir or str(path / runs.EXPORT_DIR)
    if options.data:
        config.data.source = options.data
    model_file = path / runs.MODEL_FILE
    brought = describe_trained_model(model, config, source=path)
    return dataclasses.replace(
        brought,
        sha256=file_sha256([model_file]),
        keras_version=saved_keras_version(model_file),
        labels=_labels(options, brought.num_classes, run_labels(path), path),
    )


def describe_trained_model(
    model: Any,
    config: Config,
    class_names: Sequence[str] | None = None,
    *,
    source: Path | None = None,
) -> BroughtModel:
    """A model this project trained (raw pixels → logits), described as the door does.

    It is used as its inference copy in `export.precision` (float32 unless `as_trained`), made by
    its own Keras; a Keras 3 one can do what a Keras 3 file can (its own pruning, no QAT). Its
    data, name and image recipe are the run config's. `class_names` must match its outputs.
    """
    from tfmodel.data.splits import image_recipe
    from tfmodel.models import inference_model
    from tfmodel.models.model_keras import keras_of

    precision = None if config.export.precision == "as_trained" else config.export.precision
    where = str(source) if source else "the trained model"
    kind = KERAS3 if keras_of(model).is_keras3 else RUN
    fields = described_keras(inference_model(model, precision), kind, where)
    classes = fields["num_classes"]
    names = tuple(class_names) if class_names is not None else numbered_labels(classes)
    if len(names) != classes:
        raise UserError(f"{len(names)} class names given for a model with {classes} outputs")
    return BroughtModel(
        source=source,
        kind=RUN,
        sha256=None,
        keras_version=None,
        config=config,
        data=config.data.source,
        labels=names,
        recipe=image_recipe(config.data),
        gives_logits=True,  # training ends in logits (tfmodel.models.checks)
        **fields,
    )


def _keras_file(path: Path, options: ModelOptions, overrides: Sequence[str]) -> BroughtModel:
    model, kind = load_keras_file(path, options)
    fields = described_keras(model, kind, str(path))
    fields["keras_version"] = saved_keras_version(path)
    if options.outputs == "auto":
        fields["gives_logits"] = not ends_in_softmax(model)
    else:
        fields["gives_logits"] = options.outputs == "logits"
    return _brought(path, kind, file_sha256([path]), fields, options, overrides)


def _brought(
    path: Path,
    kind: str,
    sha: str,
    fields: dict[str, Any],
    options: ModelOptions,
    overrides: Sequence[str],
) -> BroughtModel:
    """The description of a model brought without a run: its config fitted to the model."""
    config = brought_config(path, fields["input_name"], fields["input_shape"], options.data)
    apply_overrides(config, overrides)
    return BroughtModel(
        source=path,
        kind=kind,
        sha256=sha,
        config=config,
        data=options.data,
        labels=_labels(options, fields["num_classes"], None, path),
        recipe=image_recipe_for(fields["input_shape"], config.data.resize),
        **fields,
    )


def brought_config(
    path: Path, input_name: str, input_shape: tuple[int, ...], data: str | None
) -> Config:
    """Defaults fitted to a brought model: named after its file or folder, its input name, and
    (for an image input) its size and channels for decoding image files."""
    config = Config()
    config.output.name = path.stem if path.suffix == ".keras" else path.name
    config.export.model_name = config.output.name
    config.model.input_name = input_name
    if data:
        config.data.source = data
    if image_recipe_for(input_shape, config.data.resize) is not None:
        config.data.image_size = list(input_shape[:2])
        config.data.channels = input_shape[2]
    return config


def run_labels(run_dir: Path) -> list[str] | None:
    """The class names training recorded in the run (confusion.json), if it did."""
    path = run_dir / runs.CONFUSION_FILE
    if not path.is_file():
        return None
    names = json.loads(path.read_text()).get("class_names")
    return [str(name) for name in names] if names else None


def _labels(
    options: ModelOptions, num_classes: int, recorded: list[str] | None, where: Path
) -> tuple[str, ...]:
    """`--labels FILE`, else names recorded with the model, else "0", "1", ..."""
    if options.labels is not None:
        names = read_labels(options.labels)
        if len(names) != num_classes:
            raise UserError(
                f"--labels {options.labels} names {len(names)} classes, but {where} outputs "
                f"{num_classes}; give one class name a line, in the model's output order"
            )
        return tuple(names)
    if recorded and len(recorded) == num_classes:
        return tuple(recorded)
    return numbered_labels(num_classes)


def numbered_labels(num_classes: int) -> tuple[str, ...]:
    """The placeholder class names "0", "1", ... of a model brought without names."""
    return tuple(str(i) for i in range(num_classes))


def read_labels(path: Path) -> list[str]:
    """One class name a line (blank lines skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise UserError(f"--labels {path} cannot be read ({err.strerror})") from None
    return [line.strip() for line in lines if line.strip()]


def import_custom_objects(path: Path) -> None:
    """Import the user's file, which registers their classes with Keras as it runs."""
    path = Path(path).expanduser()
    if path.suffix != ".py" or not path.is_file():
        raise UserError(f"--custom-objects {path}: no such .py file; give the file defining them")
    name = f"tfmodel_custom_objects_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise UserError(
            f"--custom-objects {path}: importing it failed ({type(err).__name__}: "
            f"{first_line(err)}); fix the file (run with --debug for the traceback)"
        ) from err


def load_model_data(brought: BroughtModel, seed: int | None = None) -> tuple[BroughtModel, Any]:
    """The splits of the data the model came with (None without any), and the model labelled
    by them when no names were given. UserError when the data's classes or example shape do
    not match the model."""
    if not brought.data:
        return brought, None
    from tfmodel.data import load_splits

    config = brought.config
    splits = load_splits(config.data, config.training.seed if seed is None else seed)
    if splits.num_classes != brought.num_classes:
        raise UserError(
            f"data {brought.data} has {splits.num_classes} classes, but {brought.source} "
            f"outputs {brought.num_classes}; give data with one class folder (or label) per "
            "model output"
        )
    if tuple(splits.input_shape) != tuple(brought.input_shape):
        raise UserError(
            f"data {brought.data} gives examples of shape {tuple(splits.input_shape)}, but "
            f"{brought.source} takes {brought.input_shape}; give data of the model's input shape"
        )
    if brought.kind != RUN and brought_without_names(brought):
        brought = brought.with_labels(splits.class_names)
    return brought, splits


def brought_without_names(brought: BroughtModel) -> bool:
    """Whether the labels are the placeholder numbers (no --labels, none recorded)."""
    return brought.labels == numbered_labels(brought.num_classes)
