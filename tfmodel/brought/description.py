"""What the door hands every later stage: the options a model is brought with, and its description.

`BroughtModel` is the only thing export, serving, publish and the edge stage take: they call its
`outputs`/`probabilities` (TensorFlow, usable inside a `tf.function`) or `predict` (numpy), read
its input, labels and capabilities, and never ask where the model came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tfmodel.backend import tf
from tfmodel.config import Config
from tfmodel.data.decode import ImageRecipe
from tfmodel.data.reading import EVAL_BATCH
from tfmodel.models.model_keras import KERAS3, TF_KERAS

# What a MODEL path turned out to be: a run folder written by tfmodel.train, a .keras file saved
# by Keras 3 (KERAS3) or by tf_keras (TF_KERAS; the names are model_keras'), or a SavedModel folder.
RUN = "run"
SAVED_MODEL = "saved_model"  # used through its serving_default signature
KINDS = (RUN, KERAS3, TF_KERAS, SAVED_MODEL)

OUTPUTS = ("auto", "logits", "probabilities")
# log(0) would be -inf; a model's exact zero probability becomes this very negative logit.
SMALLEST_PROBABILITY = 1e-30


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """How the user brings a model (each is a flag of the commands that take MODEL).

    `custom_objects`: a .py file imported before loading (it registers the user's layers);
    `trust_code`: load `.keras` files with Keras' safe_mode off (Lambda layers run their code);
    `labels`: a text file, one class name a line; `outputs`: what the model's last layer gives
    (`auto` reads it from the model); `data`: a data source (`images:DIR`, `npz:FILE`, ...) for
    warmup, calibration and evaluation.
    """

    custom_objects: Path | None = None
    trust_code: bool = False
    labels: Path | None = None
    outputs: Literal["auto", "logits", "probabilities"] = "auto"
    data: str | None = None


@dataclasses.dataclass(frozen=True)
class BroughtModel:
    """One model, resolved once where it enters, whatever it was on disk.

    `model` is the loaded object (a Keras 3 or tf_keras model, or the SavedModel's loaded root);
    `call` maps a float32 pixel batch to the model's raw class vector (logits or probabilities,
    as `gives_logits` says). `config` holds the settings later stages read: a run's own, else
    defaults fitted to the model (its name, input size, `--data`); `data` is the data source it
    came with (a run's own, or `--data`; None without). `recipe` says how encoded
    images become its input (None when the input is not an image); `pixel_max` is the raw input's
    top value where the model says so (a layer named `rescale`, as training builds), else None.
    `pruning` is "tfmot" (tf_keras), "own" (Keras 3) or None; `qat` is TFMOT's, tf_keras only;
    each `*_why_not` is one line saying why a capability is missing ("" when present).
    """

    source: Path | None
    kind: str
    sha256: str | None
    keras_version: str | None
    parameters: int
    model: Any
    call: Callable[[tf.Tensor], tf.Tensor]
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: str
    pixel_max: float | None
    num_classes: int
    labels: tuple[str, ...]
    gives_logits: bool
    config: Config
    data: str | None
    recipe: ImageRecipe | None
    pruning: Literal["tfmot", "own"] | None
    pruning_why_not: str
    qat: bool
    qat_why_not: str

    def outputs(self, pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits, probabilities) of a float32 pixel batch, from one call of the model.

        A model giving probabilities has their logarithm as logits (softmax gives them back)."""
        raw = tf.cast(self.call(pixels), tf.float32)
        if self.gives_logits:
            return raw, tf.nn.softmax(raw)
        return tf.math.log(tf.maximum(raw, SMALLEST_PROBABILITY)), raw

    def probabilities(self, pixels: tf.Tensor) -> tf.Tensor:
        """Class probabilities of a float32 pixel batch (softmax applied where it gives logits)."""
        return self.outputs(pixels)[1]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of a numpy batch, computed EVAL_BATCH images at a time."""
        x = np.asarray(x, np.float32)
        parts = [
            self.probabilities(tf.constant(x[start : start + EVAL_BATCH])).numpy()
            for start in range(0, len(x), EVAL_BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), np.float32)

    @property
    def name(self) -> str:
        """The model's name under an export base (`export.model_name`)."""
        return self.config.export.model_name or self.config.output.name

    def record_path(self, filename: str) -> Path:
        """Where a record about this model goes: in its run folder, else beside its file or
        folder as `NAME.filename`."""
        if self.kind == RUN:
            return self.source / filename
        return self.source.parent / f"{self.source.name}.{filename}"

    def with_labels(self, labels: Sequence[str]) -> BroughtModel:
        """The same model with other class names (e.g. the data's folder names)."""
        return dataclasses.replace(self, labels=tuple(labels))


def image_recipe_for(input_shape: Sequence[int | None], resize: str) -> ImageRecipe | None:
    """How encoded images become this input: (H, W, 1 or 3) fixed sizes, else None."""
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        return None
    height, width, channels = input_shape
    return ImageRecipe((int(height), int(width)), int(channels), resize)


def file_sha256(paths: Sequence[Path]) -> str:
    """SHA-256 over the bytes of `paths` in the given order (one file, or a SavedModel's)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
    return digest.hexdigest()
