"""The kernel penalty every Dense/Conv layer carries: none, L1, L2 or both (L1L2).

Keras' penalties are `l1·Σ|w|` and `l2·Σw²` (no ½), added to the training loss through
`model.losses`; the factors come from the `regularizer` section of the config.
"""

from __future__ import annotations

from tfmodel.backend import keras
from tfmodel.config import RegularizerConfig


def make_regularizer(cfg: RegularizerConfig) -> keras.regularizers.Regularizer | None:
    """The regularizer the config names, or None for `kind: none`."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "l1":
        return keras.regularizers.L1(l1=cfg.l1)
    if cfg.kind == "l2":
        return keras.regularizers.L2(l2=cfg.l2)
    return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)
