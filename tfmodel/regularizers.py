"""The kernel penalty every Dense/Conv layer carries: none, L1, L2 or both (L1L2).

Keras' penalties are `l1·Σ|w|` and `l2·Σw²` (no ½), added to the training loss through
`model.losses`; the factors come from the `regularizer` section of the config, and
`regularizer.layers` gives layers whose names match a pattern their own.

The built-in networks take theirs as they are built; any other model (a named network, the
user's) gets them from `apply_regularizers`, so the penalty is saved in `model.keras` and comes
back on resume: a tf_keras model is rebuilt from its config with each kernel's regularizer set; a
Keras 3 model is set in place (each kernel variable's `regularizer`, which Keras 3 sums into
`model.losses`, and the layer's argument, which it saves), subclassed models included.
"""

from __future__ import annotations

import fnmatch
from types import ModuleType
from typing import Any

from tfmodel.backend import keras
from tfmodel.config import RegularizerConfig, merged_section
from tfmodel.errors import UserError

# Layer type → the regularizer arguments of its kernels. DepthwiseConv2D and SeparableConv2D
# subclass Conv, so they come first: their kernels are not called `kernel`.
KERNEL_ARGUMENTS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (keras.layers.DepthwiseConv2D, ("depthwise_regularizer",)),
    (keras.layers.SeparableConv2D, ("depthwise_regularizer", "pointwise_regularizer")),
    (keras.layers.Dense, ("kernel_regularizer",)),
    (keras.layers.Conv1D, ("kernel_regularizer",)),
    (keras.layers.Conv2D, ("kernel_regularizer",)),
    (keras.layers.Conv3D, ("kernel_regularizer",)),
)


# KERNEL_ARGUMENTS for Keras 3, by layer name in `keras.layers`, with the attribute holding the
# kernel each argument applies to (Keras 3's separable and depthwise layers subclass no Conv).
KERAS3_KERNELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("DepthwiseConv2D", (("depthwise_regularizer", "kernel"),)),
    (
        "SeparableConv2D",
        (
            ("depthwise_regularizer", "depthwise_kernel"),
            ("pointwise_regularizer", "pointwise_kernel"),
        ),
    ),
    ("Dense", (("kernel_regularizer", "kernel"),)),
    ("Conv1D", (("kernel_regularizer", "kernel"),)),
    ("Conv2D", (("kernel_regularizer", "kernel"),)),
    ("Conv3D", (("kernel_regularizer", "kernel"),)),
)


def make_regularizer(
    cfg: RegularizerConfig, keras_module: ModuleType = keras
) -> keras.regularizers.Regularizer | None:
    """The regularizer the config names (of `keras_module`: tf_keras or Keras 3), or None for
    `kind: none`."""
    regularizers = keras_module.regularizers
    if cfg.kind == "none":
        return None
    if cfg.kind == "l1":
        return regularizers.L1(l1=cfg.l1)
    if cfg.kind == "l2":
        return regularizers.L2(l2=cfg.l2)
    return regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)


def layer_regularizer_config(cfg: RegularizerConfig, layer_name: str) -> RegularizerConfig:
    """The section's settings for the layer named `layer_name`: those of the first pattern in
    `regularizer.layers` it matches (over the section's own), else the section's."""
    for pattern, tree in cfg.layers.items():
        if fnmatch.fnmatchcase(layer_name, pattern):
            merged = merged_section(cfg, tree, f"regularizer.layers.{pattern}")
            if merged.layers is not cfg.layers:
                raise UserError(
                    f"regularizer.layers.{pattern} sets 'layers'; give a pattern only kind, l1, l2"
                )
            return merged
    return cfg


def kernel_arguments(layer: keras.layers.Layer) -> tuple[str, ...]:
    """The regularizer arguments of `layer`'s kernels (none for a layer without kernels)."""
    return next((args for cls, args in KERNEL_ARGUMENTS if isinstance(layer, cls)), ())


def apply_regularizers(model: Any, cfg: RegularizerConfig, keras_module: ModuleType = keras) -> Any:
    """`model` (of `keras_module`: tf_keras or Keras 3) with every Dense/Conv/DepthwiseConv
    kernel carrying its configured penalty."""
    if keras_module is not keras:
        return _set_keras3_regularizers(model, cfg, keras_module)
    return _rebuild_with_regularizers(model, cfg)


def _set_keras3_regularizers(model: Any, cfg: RegularizerConfig, keras3: ModuleType) -> Any:
    """A built Keras 3 `model`, each kernel's regularizer set where Keras 3 applies and saves it:
    the variable's `regularizer` and the layer's argument of the same name."""
    for layer in _nested_layers(model):
        kernels = next(
            (k for name, k in KERAS3_KERNELS if isinstance(layer, getattr(keras3.layers, name))),
            (),
        )
        for argument, variable in kernels:
            regularizer = make_regularizer(layer_regularizer_config(cfg, layer.name), keras3)
            setattr(layer, argument, regularizer)
            getattr(layer, variable).regularizer = regularizer
    return model


def _nested_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, those of nested models too (a base network in a model)."""
    found = []
    for layer in getattr(model, "layers", ()):
        found += [layer, *_nested_layers(layer)]
    return found


def _rebuild_with_regularizers(model: keras.Model, cfg: RegularizerConfig) -> keras.Model:
    """A tf_keras `model` with every kernel carrying its configured penalty.

    The model is rebuilt from its config with the regularizer arguments set and its weights
    copied, so it trains, saves and reloads like a model built that way. A model whose layers
    already carry exactly these penalties is returned as it is.
    """
    wanted = {}
    for layer in model.layers:
        for argument in kernel_arguments(layer):
            regularizer = make_regularizer(layer_regularizer_config(cfg, layer.name))
            wanted[layer.name, argument] = keras.regularizers.serialize(regularizer)
    current = {
        (name, argument): keras.regularizers.serialize(getattr(model.get_layer(name), argument))
        for name, argument in wanted
    }
    if wanted == current:
        return model
    if not isinstance(model, keras.Sequential) and not getattr(model, "_is_graph_network", False):
        raise UserError(
            f"model {model.name!r} is a subclassed keras.Model, which cannot be rebuilt with "
            "regularizers; build it with keras.Input and layers (functional or Sequential), or "
            "set regularizer.kind=none and add the penalties in the model yourself"
        )

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        for argument in kernel_arguments(layer):
            config[argument] = wanted[layer.name, argument]
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
