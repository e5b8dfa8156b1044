"""The kernel penalty every Dense/Conv layer carries: none, L1, L2 or both (L1L2).

Keras' penalties are `l1·Σ|w|` and `l2·Σw²` (no ½), added to the training loss through
`model.losses`; the factors come from the `regularizer` section of the config, and
`regularizer.layers` gives layers whose names match a pattern their own.

The built-in networks take theirs as they are built; any other model (a named network, the
user's) gets them from `apply_regularizers`, which rebuilds it from its config with each kernel's
regularizer set, so the penalty is saved in `model.keras` and comes back on resume.
"""

from __future__ import annotations

import fnmatch

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


def make_regularizer(cfg: RegularizerConfig) -> keras.regularizers.Regularizer | None:
    """The regularizer the config names, or None for `kind: none`."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "l1":
        return keras.regularizers.L1(l1=cfg.l1)
    if cfg.kind == "l2":
        return keras.regularizers.L2(l2=cfg.l2)
    return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)


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


def apply_regularizers(model: keras.Model, cfg: RegularizerConfig) -> keras.Model:
    """`model` with every Dense/Conv/DepthwiseConv kernel carrying its configured penalty.

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
