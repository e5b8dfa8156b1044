"""The user's own model: `model.builder` (a function in a file or module) or `model.from_keras`.

`FILE.py:FUNCTION` or `package.module:FUNCTION` is called as FUNCTION(input_shape, num_classes)
and returns a Keras model (Keras 3 from `import keras`, or tf_keras) taking raw pixels and giving
logits; `PATH.keras` is a model saved by `model.save` of either Keras, loaded by the Keras that
saved it without running code (safe_mode). `checks.check_model` then decides whether training
can take it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from tfmodel.errors import UserError, first_line
from tfmodel.models.model_keras import keras_of_file


def build_user_model(spec: str, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """What the function `spec` names returns for (input_shape, num_classes)."""
    function = _find_function(spec)
    try:
        return function(input_shape, num_classes)
    except Exception as err:
        raise UserError(
            f"model.builder {spec} failed when called as {function.__name__}({input_shape}, "
            f"{num_classes}): {type(err).__name__}: {first_line(err)}; fix the function "
            "(run with --debug for the traceback)"
        ) from err


def load_user_model(path: str) -> Any:
    """The model saved at `path` (.keras) by either Keras, loaded by that Keras, its optimizer
    state dropped (training compiles anew)."""
    file = Path(path).expanduser()
    if file.suffix != ".keras" or not file.is_file():
        raise UserError(
            f"model.from_keras {path}: no such .keras file; give the path of a file written by "
            "model.save('NAME.keras')"
        )
    model_keras = keras_of_file(file)
    try:
        return model_keras.load_model(file, compile=False)
    except Exception as err:
        raise UserError(
            f"model.from_keras {path} cannot be loaded by {model_keras.name} "
            f"({type(err).__name__}: {first_line(err)}); check it was saved by model.save() and "
            "opens with keras.models.load_model"
        ) from None


def _find_function(spec: str):
    """The callable `spec` names: `path/to/file.py:NAME` or `package.module:NAME`."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UserError(
            f"model.builder {spec!r} must look like FILE.py:FUNCTION or package.module:FUNCTION"
        )
    module = _load_file(spec, Path(where)) if where.endswith(".py") else _import(spec, where)
    function = getattr(module, name, None)
    if not callable(function):
        raise UserError(
            f"model.builder {spec}: {where} has no function {name!r}; define "
            f"def {name}(input_shape, num_classes) returning a Keras model"
        )
    return function


def _load_file(spec: str, path: Path):
    if not path.expanduser().is_file():
        raise UserError(f"model.builder {spec}: no such file {path}; give the path of a .py file")
    module_name = f"tfmodel_user_builder_{path.stem}"
    loader = importlib.util.spec_from_file_location(module_name, path.expanduser())
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module  # so pickling and dataclasses inside it work
    try:
        loader.loader.exec_module(module)
    except Exception as err:
        raise UserError(
            f"model.builder {spec}: importing {path} failed: {type(err).__name__}: "
            f"{first_line(err)}"
        ) from err
    return module


def _import(spec: str, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(
            f"model.builder {spec}: cannot import {module_name} ({first_line(err)}); install it "
            "or put its folder on PYTHONPATH"
        ) from None
