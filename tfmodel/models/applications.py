"""Standard edge networks by name (`keras.applications`), in the project's raw-pixels/logits form.

raw pixels [0, pixel_max] → `rescale` to [0, 1] → the network's own preprocessing (as if 0..255) →
grey repeated to RGB (bodies take 3 channels, and ImageNet weights were trained on them) → body
(`include_top=False`, global average pooling) → Dropout(model.dropout) → Dense `logits` (float32).

The body's layers are part of one flat model (it is built on our tensors with `input_tensor`),
so regularizers, export's float32 copy and TFLite conversion see every layer.
`model.weights`: `none` (random), `imagenet` (Keras downloads its `…_no_top.h5` into
~/.keras/models, or takes it from there) or the PATH of a body weights file (.h5).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tfmodel.backend import keras
from tfmodel.config import ModelConfig
from tfmodel.errors import UserError, first_line


@dataclass(frozen=True)
class Network:
    """One `keras.applications` body and what it needs around it."""

    make: Callable[..., keras.Model]
    has_alpha: bool  # takes a width multiplier
    own_preprocessing: bool  # its first layers already map 0..255 to what the body expects


NETWORKS: dict[str, Network] = {
    "mobilenet_v2": Network(keras.applications.MobileNetV2, True, False),
    "mobilenet_v3_small": Network(keras.applications.MobileNetV3Small, True, True),
    "mobilenet_v3_large": Network(keras.applications.MobileNetV3Large, True, True),
    "efficientnet_b0": Network(keras.applications.EfficientNetB0, False, True),
}
MIN_SIZE = 32  # the smallest height and width keras.applications accepts


def build_application(
    model_cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, pixel_max: float
) -> keras.Model:
    """The named network for images of `input_shape` (H, W, 1 or 3), ending in logits."""
    network = NETWORKS[model_cfg.name]
    height, width, channels = input_shape
    if min(height, width) < MIN_SIZE or channels not in (1, 3):
        raise UserError(
            f"model.name {model_cfg.name} takes images of at least {MIN_SIZE}x{MIN_SIZE} with 1 "
            f"or 3 channels, the data has {height}x{width}x{channels}; use larger images or "
            "model.name mlp/cnn"
        )
    if not network.has_alpha and model_cfg.alpha != 1.0:
        raise UserError(
            f"model.name {model_cfg.name} has no width multiplier, model.alpha is "
            f"{model_cfg.alpha}; remove model.alpha or pick a MobileNet"
        )
    inputs = keras.Input(shape=input_shape, name=model_cfg.input_name, dtype="float32")
    # `rescale` (raw → [0, 1]) is the built-in networks' first layer too: export reads the input
    # range from it. Then [0, 1] → what the body's own first layers expect.
    x = keras.layers.Rescaling(1.0 / pixel_max, name="rescale")(inputs)
    if network.own_preprocessing:  # the body rescales 0..255 itself
        x = keras.layers.Rescaling(255.0, name="to_0_255")(x)
    else:  # MobileNetV2's preprocess_input: 0..255 → [-1, 1]
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    if channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    body = _make_body(network, model_cfg, x)
    x = body.output
    if model_cfg.dropout:
        x = keras.layers.Dropout(model_cfg.dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=model_cfg.name)


def _make_body(network: Network, model_cfg: ModelConfig, x) -> keras.Model:
    """The body built on the tensor `x`, its weights as `model.weights` says."""
    kwargs = {"alpha": model_cfg.alpha} if network.has_alpha else {}
    weights = _weights_argument(model_cfg)
    try:
        return network.make(
            input_shape=tuple(x.shape[1:]),  # with input_tensor alone, ImageNet files are 224's
            input_tensor=x,
            include_top=False,
            weights=weights,
            pooling="avg",
            **kwargs,
        )
    except ValueError as err:  # keras.applications' check of alpha/size against the weights
        raise UserError(
            f"model.name {model_cfg.name} (alpha {model_cfg.alpha}, weights {model_cfg.weights}) "
            f"cannot be built: {first_line(err)}"
        ) from None
    except Exception as err:
        if "URL fetch failure" not in str(err):
            raise
        raise UserError(_offline_message(model_cfg, str(err))) from None


def _weights_argument(model_cfg: ModelConfig) -> str | None:
    """keras.applications' `weights=`: None, "imagenet" or the checked path of a weights file."""
    if model_cfg.weights == "none":
        return None
    if model_cfg.weights == "imagenet":
        return "imagenet"
    path = Path(model_cfg.weights).expanduser()
    if not path.is_file():
        raise UserError(
            f"model.weights {model_cfg.weights}: no such file; give none, imagenet or the path "
            f"of a body weights file (.h5, e.g. save_weights of keras.applications' network "
            "built with include_top=False)"
        )
    return str(path)


def _offline_message(model_cfg: ModelConfig, error: str) -> str:
    """Which file Keras could not download and where to place it so it is found offline."""
    url = re.search(r"https?://\S+?(?=:\s|$)", error)
    file_name = url.group(0).rsplit("/", 1)[-1] if url else "the weights file"
    cache = Path(os.environ.get("KERAS_HOME", Path("~/.keras").expanduser())) / "models"
    where = f" from {url.group(0)}" if url else ""
    return (
        f"model.weights imagenet for {model_cfg.name}: Keras could not download {file_name}"
        f"{where} (no internet?); place that file at {cache / file_name} and run again"
    )
