"""Which Keras a model belongs to (tf_keras or Keras 3), and what training takes from that Keras.

A model's Keras is decided where it enters (`build_model`, `load_model`): by the model object's
class, or by a `.keras` file's `metadata.json`. Everything training then builds for it — loss,
optimizer, regularizers, callbacks — comes from the `ModelKeras` returned here, so objects of the
two Kerases are never mixed. Keras 3 is imported (through `tfmodel.keras3`) only when a Keras 3
model or file is met.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tfmodel.config import OptimizerConfig
from tfmodel.models.checks import is_keras3_model, saved_by_keras3

TF_KERAS = "tf_keras"
KERAS3 = "keras3"


@dataclass(frozen=True)
class ModelKeras:
    """One Keras and the project's pieces built with it."""

    name: str  # TF_KERAS or KERAS3
    keras: ModuleType

    @property
    def is_keras3(self) -> bool:
        return self.name == KERAS3

    def make_optimizer(
        self, cfg: OptimizerConfig, steps_per_epoch: int, epochs: int, learning_rate_scale: float
    ) -> Any:
        """The project's optimizer `cfg` names, of this Keras (one recipe for both)."""
        if self.is_keras3:
            from tfmodel.optimizers.keras3 import make_keras3_optimizer as make
        else:
            from tfmodel.optimizers import make_optimizer as make
        return make(cfg, steps_per_epoch, epochs, learning_rate_scale=learning_rate_scale)

    def load_model(self, path: str | Path, *, compile: bool = True, safe_mode: bool = True) -> Any:
        """The model saved at `path` by this Keras; safe_mode refuses a Lambda's pickled code
        (off only where the user said they trust the file)."""
        if self.is_keras3:
            from tfmodel.optimizers.keras3 import CUSTOM_OBJECTS
        else:
            from tfmodel.optimizers import CUSTOM_OBJECTS
        return self.keras.models.load_model(
            path, custom_objects=CUSTOM_OBJECTS, compile=compile, safe_mode=safe_mode
        )


def tf_keras() -> ModelKeras:
    """tf_keras (Keras 2), which the project's own networks and TFMOT use."""
    from tfmodel.backend import keras

    return ModelKeras(TF_KERAS, keras)


def keras3() -> ModelKeras:
    """Keras 3 (`import keras`), which users' models are written with."""
    from tfmodel.keras3 import keras

    return ModelKeras(KERAS3, keras)


def keras_of(model: Any) -> ModelKeras:
    """The Keras `model` (a model or layer) belongs to."""
    return keras3() if is_keras3_model(model) else tf_keras()


def keras_of_file(path: str | Path) -> ModelKeras:
    """The Keras that saved the `.keras` file at `path` (its metadata.json's keras_version)."""
    return keras3() if saved_by_keras3(Path(path)) else tf_keras()
