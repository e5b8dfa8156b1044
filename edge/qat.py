"""Quantization-aware training (optional, `edge.qat: true`): fine-tune with int8 rounding simulated.

tfmot's `quantize_model` refuses models with layers it has no quantize config for (Rescaling,
the user's own layer classes), so only the layers with a kernel that tfmot's 8-bit registry
takes (Dense, Conv, DepthwiseConv2D) are annotated and `quantize_apply` inserts fake-quant ops
around them; other kernel layers stay float here, and the converter's calibration sets their
ranges. The converter then reads the learnt ranges when it writes the int8 file.
"""

from __future__ import annotations

from pathlib import Path

from edge.finetune import fine_tune_data, finetune, kernels, wrap_layers
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits, StreamedSplits

import tensorflow_model_optimization as tfmot  # isort: skip  (after tfmodel.backend picks Keras 2)


def quantize_aware_finetune(
    model: keras.Model, splits: Splits | StreamedSplits, config: Config, backup: Path | None = None
) -> keras.Model:
    """A copy of `model` with fake quantization, fine-tuned for `edge.prune_epochs` epochs,
    backing up into `backup` (edge.finetune) when given."""
    quantization = tfmot.quantization.keras
    registry = quantization.default_8bit.Default8BitQuantizeRegistry()
    annotated = wrap_layers(
        model,
        quantization.quantize_annotate_layer,
        lambda layer: bool(kernels(layer)) and registry.supports(layer),
    )
    left_float = [
        layer.name for layer in model.layers if kernels(layer) and not registry.supports(layer)
    ]
    with quantization.quantize_scope():
        qat_model = quantization.quantize_apply(annotated)
    print(
        f"quantization-aware fine-tuning for {config.edge.prune_epochs} epochs"
        + (f"; tfmot cannot quantize {', '.join(left_float)}: left float" if left_float else "")
    )
    data = fine_tune_data(splits, config)
    return finetune(qat_model, data, config, config.edge.prune_epochs, backup=backup)
