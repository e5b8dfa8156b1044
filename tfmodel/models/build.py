"""A model's life in training: built from the config, compiled, copied for export, loaded.

Every model takes RAW pixels (the network's own preprocessing is inside it), so an exported model
is fed exactly what a camera or file gives, and outputs float32 logits, so mixed precision never
reaches the loss. Which network is built: `model.from_keras`, else `model.builder`, else
`model.name` (built in, or a standard edge network); each is checked before training starts.
The project's own networks are tf_keras; a user's model keeps the Keras it was written with
(`model_keras`), and compiling and loading use that Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfmodel.config import ModelConfig, OptimizerConfig, RegularizerConfig
from tfmodel.models import applications, builtin, checks, user
from tfmodel.models.model_keras import ModelKeras, keras_of, keras_of_file, tf_keras
from tfmodel.regularizers import apply_regularizers


def build_model(
    model_cfg: ModelConfig,
    reg_cfg: RegularizerConfig,
    input_shape: Sequence[int],
    num_classes: int,
    pixel_max: float,
    *,
    convertible: bool = False,
) -> Any:
    """The configured model for images of `input_shape`, checked and carrying its regularizers:
    a tf_keras model, or a Keras 3 one where the user's builder or file gives Keras 3.

    Raises UserError (one line: the problem and the fix) for a model training cannot take; with
    `convertible` (the edge stage will run), also for a user's model whose float32 copy TFLite
    cannot convert.
    """
    input_shape = tuple(input_shape)
    if model_cfg.name in builtin.NETWORKS and not (model_cfg.from_keras or model_cfg.builder):
        model = builtin.build_builtin(model_cfg, reg_cfg, input_shape, num_classes, pixel_max)
    else:
        model, where = _network(model_cfg, input_shape, num_classes, pixel_max)
        checks.check_model(model, where, input_shape, num_classes)
        if convertible and (model_cfg.from_keras or model_cfg.builder):
            # as the edge stage converts it: its float32 copy (TFLite takes float32 graphs)
            checks.check_convertible(inference_model(model), where)
    return apply_regularizers(model, reg_cfg, keras_of(model).keras)


def keras_of_config(
    model_cfg: ModelConfig, input_shape: Sequence[int], num_classes: int
) -> ModelKeras:
    """The Keras of the model `model_cfg` names, known before training or tuning builds it: the
    project's networks are tf_keras, a `.keras` file says in its metadata, and a builder is
    called once to see what it returns."""
    if model_cfg.from_keras:
        return keras_of_file(model_cfg.from_keras)
    if model_cfg.builder:
        return keras_of(user.build_user_model(model_cfg.builder, tuple(input_shape), num_classes))
    return tf_keras()


def _network(
    model_cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, pixel_max: float
) -> tuple[Any, str]:
    """The model the config names other than the built-in ones, and the key that named it."""
    if model_cfg.from_keras:
        built = user.load_user_model(model_cfg.from_keras)
    elif model_cfg.builder:
        built = user.build_user_model(model_cfg.builder, input_shape, num_classes)
    else:
        built = applications.build_application(model_cfg, input_shape, num_classes, pixel_max)
    return built, checks.named_by(model_cfg)


def compile_for_training(
    model: Any,
    optimizer_cfg: OptimizerConfig,
    steps_per_epoch: int,
    epochs: int,
    *,
    learning_rate_scale: float = 1.0,
    steps_per_execution: int = 1,
    jit_compile: bool | None = None,
) -> None:
    """Compile `model` with the training recipe: cross-entropy on its logits, accuracy, and the
    configured optimizer with its schedule over `epochs` of `steps_per_epoch` steps.

    Training and edge fine-tuning (pruning, QAT) both compile here, so their recipes cannot drift;
    the loss and the project's optimizer are of the model's own Keras (tf_keras or Keras 3).
    Under a distribution strategy, call it inside the strategy's scope (the optimizer's slots).
    """
    model_keras = keras_of(model)
    model.compile(
        optimizer=model_keras.make_optimizer(
            optimizer_cfg, steps_per_epoch, epochs, learning_rate_scale
        ),
        loss=model_keras.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Weighted, so padded evaluation batches (zero-weight rows, on TPU) are not counted.
        weighted_metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )


def inference_model(model: Any, precision: str | None = "float32") -> Any:
    """A copy of `model` for serving and conversion: same weights, no optimizer, one precision.

    Layers keep the mixed-precision policy they were built with, even after saving and loading,
    so a model trained in mixed_bfloat16 would compute in bfloat16 wherever it goes. The copy
    computes in `precision` (float32 by default; None keeps each layer's training policy), and,
    being uncompiled, carries no optimizer slots into a SavedModel. It is made by the model's own
    Keras (tf_keras or Keras 3).
    """

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if precision is not None and "dtype" in config:  # Keras 3's ops (`x + y`) have none
            config["dtype"] = precision
        return type(layer).from_config(config)

    copy = keras_of(model).keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def load_model(path: str | Path) -> Any:
    """Load a `model.keras` written by training, optimizer state included, with the Keras that
    saved it (its metadata.json says which).

    `safe_mode` refuses a file whose Lambda layers would run pickled Python code on load: a model
    file is data, never code.
    """
    return keras_of_file(path).load_model(path)
