"""Quantization-aware training (optional, `edge.qat: true`): fine-tune with int8 rounding simulated.

tfmot's `quantize_model` refuses models with layers it has no quantize config for (Rescaling),
so only the Dense/Conv layers are annotated and `quantize_apply` inserts fake-quant ops around
them. The converter then reads the learnt ranges when it writes the int8 file.
"""

from __future__ import annotations

from edge.finetune import finetune, wrap_kernel_layers
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits

import tensorflow_model_optimization as tfmot  # isort: skip  (after tfmodel.backend picks Keras 2)


def quantize_aware_finetune(model: keras.Model, splits: Splits, config: Config) -> keras.Model:
    """A copy of `model` with fake quantization, fine-tuned for `edge.prune_epochs` epochs."""
    quantization = tfmot.quantization.keras
    annotated = wrap_kernel_layers(model, quantization.quantize_annotate_layer)
    with quantization.quantize_scope():
        qat_model = quantization.quantize_apply(annotated)
    print(f"quantization-aware fine-tuning for {config.edge.prune_epochs} epochs")
    return finetune(qat_model, splits, config, config.edge.prune_epochs)
