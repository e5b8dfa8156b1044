"""Fine-tune a trained model with its Dense/Conv layers wrapped (for pruning or quantization-aware
training), with the run's own optimizer, batch size and seed.

Only layers with a kernel can be wrapped: preprocessing (Rescaling) and reshaping (Flatten)
layers cannot, so the model is cloned layer by layer and only the kernel layers are wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.data import Splits, batches_per_epoch, build_dataset
from tfmodel.models import compile_for_training

KERNEL_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def wrap_kernel_layers(
    model: keras.Model, wrap: Callable[[keras.layers.Layer], Any]
) -> keras.Model:
    """A copy of `model` with every Dense/Conv layer replaced by `wrap(layer)`.

    The model is first copied with its weights, so wrapping (which adds masks or quantizer
    variables around the layer's own kernel) never touches the original model.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return keras.models.clone_model(
        copy,
        clone_function=lambda layer: wrap(layer) if isinstance(layer, KERNEL_LAYERS) else layer,
    )


def finetune(
    model: keras.Model,
    splits: Splits,
    config: Config,
    epochs: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.Model:
    """Train `model` for `epochs` more epochs on the train split, as training did; returns it."""
    seed = config.training.seed
    keras.utils.set_random_seed(seed)
    train_ds = build_dataset(
        splits.x_train,
        splits.y_train,
        config.data.batch_size,
        shuffle=True,
        seed=seed,
        shuffle_buffer=config.data.shuffle_buffer,
    )
    steps_per_epoch = int(train_ds.cardinality())
    compile_for_training(model, config.optimizer, steps_per_epoch, epochs)
    model.fit(train_ds, epochs=epochs, callbacks=callbacks or [], verbose=config.training.verbose)
    return model


def steps_per_epoch(splits: Splits, config: Config) -> int:
    """How many batches one epoch of the train split has (the last one may be short)."""
    return batches_per_epoch(len(splits.x_train), config.data.batch_size, drop_remainder=False)
