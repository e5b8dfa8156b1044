"""The networks: `mlp` (the reference recipe) and `cnn` (a small convnet), sizes from config.

Every model takes RAW pixels (its first layer rescales them to [0, 1]), so an exported model is fed
exactly what a camera or file gives; it outputs logits from a float32 `logits` layer, so mixed
precision never reaches the loss. Every Dense/Conv kernel carries the configured regularizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tfmodel import optimizers  # also registers the project's optimizers, for load_model
from tfmodel.backend import keras
from tfmodel.config import ModelConfig, OptimizerConfig, RegularizerConfig
from tfmodel.regularizers import make_regularizer


def build_model(
    model_cfg: ModelConfig,
    reg_cfg: RegularizerConfig,
    input_shape: Sequence[int],
    num_classes: int,
    pixel_max: float,
) -> keras.Model:
    """A functional Keras model: raw pixels → Rescaling(1/pixel_max) → body → logits."""
    inputs = keras.Input(shape=tuple(input_shape), name=model_cfg.input_name, dtype="float32")
    x = keras.layers.Rescaling(1.0 / pixel_max, name="rescale")(inputs)
    body = _mlp_body if model_cfg.name == "mlp" else _cnn_body
    x = body(x, model_cfg, reg_cfg)
    logits = keras.layers.Dense(
        num_classes,
        kernel_regularizer=make_regularizer(reg_cfg),
        dtype="float32",
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=model_cfg.name)


def compile_for_training(
    model: keras.Model,
    optimizer_cfg: OptimizerConfig,
    steps_per_epoch: int,
    epochs: int,
    *,
    learning_rate_scale: float = 1.0,
    steps_per_execution: int | None = None,
    jit_compile: bool | None = None,
) -> None:
    """Compile `model` with the training recipe: cross-entropy on its logits, accuracy, and the
    configured optimizer with its schedule over `epochs` of `steps_per_epoch` steps.

    Training and edge fine-tuning (pruning, QAT) both compile here, so their recipes cannot drift.
    Under a distribution strategy, call it inside the strategy's scope (the optimizer's slots).
    """
    model.compile(
        optimizer=optimizers.make_optimizer(
            optimizer_cfg, steps_per_epoch, epochs, learning_rate_scale=learning_rate_scale
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Weighted, so padded evaluation batches (zero-weight rows, on TPU) are not counted.
        weighted_metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )


def _mlp_body(x, model_cfg: ModelConfig, reg_cfg: RegularizerConfig):
    x = keras.layers.Flatten(name="flatten")(x)
    return _dense_stack(x, model_cfg, reg_cfg)


def _cnn_body(x, model_cfg: ModelConfig, reg_cfg: RegularizerConfig):
    for i, filters in enumerate(model_cfg.filters):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_regularizer=make_regularizer(reg_cfg),
            name=f"conv{i}",
        )(x)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return _dense_stack(x, model_cfg, reg_cfg)


def _dense_stack(x, model_cfg: ModelConfig, reg_cfg: RegularizerConfig):
    for i, units in enumerate(model_cfg.hidden_units):
        x = keras.layers.Dense(
            units, activation="relu", kernel_regularizer=make_regularizer(reg_cfg), name=f"dense{i}"
        )(x)
        if model_cfg.dropout:
            x = keras.layers.Dropout(model_cfg.dropout, name=f"dropout{i}")(x)
    return x


def inference_model(model: keras.Model, precision: str | None = "float32") -> keras.Model:
    """A copy of `model` for serving and conversion: same weights, no optimizer, one precision.

    Layers keep the mixed-precision policy they were built with, even after saving and loading,
    so a model trained in mixed_bfloat16 would compute in bfloat16 wherever it goes. The copy
    computes in `precision` (float32 by default; None keeps each layer's training policy), and,
    being uncompiled, carries no optimizer slots into a SavedModel.
    """

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if precision is not None:
            config["dtype"] = precision
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def load_model(path: str | Path) -> keras.Model:
    """Load a `model.keras` written by training, optimizer state included.

    `safe_mode` (the default, said out loud) refuses a file whose Lambda layers would run pickled
    Python code on load: a model file is data, never code.
    """
    return keras.models.load_model(path, safe_mode=True)
