"""Fine-tune a trained model with some of its layers wrapped (for pruning or quantization-aware
training), with the run's own optimizer, batch size and seed.

Only layers tfmot knows can be wrapped: preprocessing (Rescaling) and reshaping (Flatten)
layers cannot, so the model is cloned layer by layer and only the layers the caller selects (those
with a kernel its tfmot API takes) are wrapped; the rest stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfmodel.backend import keras, tf
from tfmodel.config import Config
from tfmodel.data import Splits, batches_per_epoch, build_dataset
from tfmodel.models import compile_for_training


def kernels(layer: keras.layers.Layer) -> list[Any]:
    """The layer's weight matrices (Dense/Conv kernels, depthwise kernels): weights of 2 or more
    dimensions, so biases and BatchNorm's per-channel statistics are left out."""
    return [w for w in layer.weights if len(w.shape) >= 2]


def wrap_layers(
    model: keras.Model,
    wrap: Callable[[keras.layers.Layer], Any],
    selected: Callable[[keras.layers.Layer], bool],
) -> keras.Model:
    """A copy of `model` with every layer for which `selected(layer)` replaced by `wrap(layer)`.

    The model is first copied with its weights, so wrapping (which adds masks or quantizer
    variables around the layer's own kernel) never touches the original model.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return keras.models.clone_model(
        copy,
        clone_function=lambda layer: wrap(layer) if selected(layer) else layer,
    )


def finetune(
    model: keras.Model,
    splits: Splits,
    config: Config,
    epochs: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.Model:
    """Train `model` for `epochs` more epochs on the train split, as training did; returns it."""
    keras.utils.set_random_seed(config.training.seed)
    train_ds = train_batches(splits, config)
    steps_per_epoch = int(train_ds.cardinality())
    compile_for_training(model, config.optimizer, steps_per_epoch, epochs)
    model.fit(train_ds, epochs=epochs, callbacks=callbacks or [], verbose=config.training.verbose)
    return model


def train_batches(splits: Splits, config: Config) -> tf.data.Dataset:
    """The train split's batches, shuffled by the run's seed as training did (either Keras)."""
    return build_dataset(
        splits.x_train,
        splits.y_train,
        config.data.batch_size,
        shuffle=True,
        seed=config.training.seed,
        shuffle_buffer=config.data.shuffle_buffer,
    )


def steps_per_epoch(splits: Splits, config: Config) -> int:
    """How many batches one epoch of the train split has (the last one may be short)."""
    return batches_per_epoch(len(splits.x_train), config.data.batch_size, drop_remainder=False)
