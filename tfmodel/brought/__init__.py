"""Bring your own model: MODEL (a run folder, a `.keras` file of Keras 3 or tf_keras, a SavedModel
folder) resolved once, at the door, into one description every later stage takes.

- `door`: `resolve_model(path, options)` → `BroughtModel`; `load_model_data` (the data it came
  with, its classes checked against the model's output)
- `keras_models`: `.keras` files loaded by the Keras that wrote them, safe_mode, the user's
  registered classes; what a Keras model's inputs, outputs and capabilities are
- `saved_models`: SavedModel folders through their `serving_default` signature, logits sniffed
- `flags`: the command-line flags that give `ModelOptions` (every command taking MODEL)
- `card`: the model card of a description (source, sha256, Keras, parameters, data, signatures)
- `description`: `ModelOptions` (how a model is brought) and `BroughtModel` (what it is)
"""

from tfmodel.brought.description import BroughtModel, ModelOptions
from tfmodel.brought.door import load_model_data, resolve_model

__all__ = ["BroughtModel", "ModelOptions", "load_model_data", "resolve_model"]
