"""Built-in networks: `mlp` (the reference recipe) and `cnn` (a small convnet), sized by config.

Their first layer rescales raw pixels to [0, 1]; they end in a float32 `logits` layer, and every
Dense/Conv kernel carries the configured regularizer.
"""

from __future__ import annotations

from collections.abc import Sequence

from tfmodel.backend import keras
from tfmodel.config import ModelConfig, RegularizerConfig
from tfmodel.regularizers import make_regularizer

NETWORKS = ("mlp", "cnn")


def build_builtin(
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
