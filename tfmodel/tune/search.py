"""The search engine: KerasTuner's tuners driving the project's own training recipe.

A trial is the base config with the trial's values set; its model, compile recipe and tf.data
pipelines are training's own (`build_model`, `compile_for_training`, `fit_data`), built
under the chosen tf.distribute strategy, with the model's own Keras (tf_keras, or Keras 3 for a
Keras 3 builder or file): KerasTuner is imported for that Keras before this module
(`tfmodel.tune.cli`), and `keras_tuner` here is the one it bound. The search holds
`search_splits` — the train and validation splits only, arrays or streamed files as training
has them — so no trial can see the test split. KerasTuner keeps its state in the project folder,
so a search started again resumes; with KERASTUNER_* variables set it runs as KerasTuner's chief
(the oracle, serving gRPC) or as one of its workers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from tfmodel.backend import import_keras_tuner, tf
from tfmodel.config import Config
from tfmodel.data import Splits, StreamedSplits
from tfmodel.data.streaming import FileSplit
from tfmodel.distribute.strategies import StrategyInfo, global_batch_size, learning_rate_scale
from tfmodel.models import build_model, compile_for_training
from tfmodel.models.model_keras import ModelKeras
from tfmodel.training.fitting import run_steps_per_execution
from tfmodel.training.setting import FitBatches, fit_data
from tfmodel.tune.space import Dimension, declare, trial_config

keras_tuner = import_keras_tuner()

OBJECTIVE = "val_accuracy"


def search_splits(splits: Splits | StreamedSplits) -> Splits | StreamedSplits:
    """What a trial may read: the train and validation splits as they are (arrays, or files
    streamed as training streams them), and an empty test split; the test split is not read
    here either, so none of it is decoded and no trial can see it."""
    if isinstance(splits, StreamedSplits):
        no_files = FileSplit(np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return dataclasses.replace(splits, test=no_files, listing=None)
    return Splits(
        splits.x_train,
        splits.y_train,
        splits.x_val,
        splits.y_val,
        splits.x_train[:0],
        splits.y_train[:0],
        list(splits.class_names),
        splits.pixel_max,
    )


class ConfigHyperModel(keras_tuner.HyperModel):
    """Builds and trains one trial's model exactly as `python -m tfmodel.train` would."""

    def __init__(
        self,
        config: Config,
        dimensions: list[Dimension],
        data: Splits | StreamedSplits,
        info: StrategyInfo,
        model_keras: ModelKeras,
    ):
        super().__init__(name=config.output.name)
        self.config, self.dimensions, self.data, self.info = config, dimensions, data, info
        self.model_keras = model_keras  # the Keras every trial's model is written with
        # each epoch's data order is drawn from (seed, epoch), as in training
        self.data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

    def declare_hyperparameters(self, hp) -> None:
        """KerasTuner's hook (BaseTuner calls it once): the search space, before any trial."""
        declare(hp, self.dimensions)

    def trial_config(self, hp) -> Config:
        return trial_config(self.config, self.dimensions, hp.values)

    def build(self, hp) -> Any:
        config = self.trial_config(hp)
        # as training does, before the model
        self.model_keras.keras.utils.set_random_seed(config.training.seed)
        model = build_model(
            config.model,
            config.regularizer,
            self.data.input_shape,
            self.data.num_classes,
            self.data.pixel_max,
        )
        info, training = self.info, config.training
        batches = self._batches(config)
        steps = run_steps_per_execution(config, info, model, batches.steps_per_epoch)
        compile_for_training(
            model,
            config.optimizer,
            batches.steps_per_epoch,
            training.epochs,
            learning_rate_scale=learning_rate_scale(info, config.optimizer.scale_learning_rate),
            steps_per_execution=steps,
            jit_compile=training.jit_compile,
        )
        return model

    def fit(self, hp, model: Any, *args, **kwargs) -> Any:
        """Train on the train split, scored on validation; Hyperband passes its epoch budget."""
        config = self.trial_config(hp)
        initial_epoch = kwargs.get("initial_epoch", 0)
        self.data_epoch.assign(initial_epoch)  # read when fit starts its iterator
        return model.fit(
            **self._batches(config).fit_arguments(),
            epochs=kwargs.get("epochs", config.training.epochs),
            initial_epoch=initial_epoch,
            callbacks=kwargs.get("callbacks", []),
            verbose=config.training.verbose,
        )

    def _batches(self, config: Config) -> FitBatches:
        batch = global_batch_size(config.data.batch_size, self.info)
        static_shapes = self.info.is_tpu or config.data.drop_remainder
        return fit_data(config, self.data, batch, static_shapes, self.data_epoch)


def make_tuner(
    config: Config,
    dimensions: list[Dimension],
    data: Splits | StreamedSplits,
    info: StrategyInfo,
    project_dir: Path,
    overwrite: bool,
    model_keras: ModelKeras,
):
    """The tuner for `tune.algorithm`; it reloads the state in `project_dir` unless `overwrite`."""
    common = {
        "hypermodel": ConfigHyperModel(config, dimensions, data, info, model_keras),
        "objective": keras_tuner.Objective(OBJECTIVE, direction="max"),
        "seed": config.training.seed,
        "distribution_strategy": info.strategy,
        "directory": str(project_dir.parent),
        "project_name": project_dir.name,
        "overwrite": overwrite,
    }
    algorithm, max_trials = config.tune.algorithm, config.tune.max_trials
    if algorithm == "random":
        return keras_tuner.RandomSearch(max_trials=max_trials, **common)
    if algorithm == "bayesian":
        return keras_tuner.BayesianOptimization(max_trials=max_trials, **common)
    tuner = keras_tuner.Hyperband(
        max_epochs=config.training.epochs, factor=config.tune.hyperband_factor, **common
    )
    # Hyperband sizes its brackets from the epoch budget; the base oracle's cap still applies.
    tuner.oracle.max_trials = max_trials
    return tuner


def finished_trials(tuner) -> list[Any]:
    """The trials that ran to the end, in the order they were created."""
    trials = tuner.oracle.trials.values()
    # Ids are zero-padded to the width of max_trials, which a resumed search may have raised.
    return sorted((t for t in trials if t.status == "COMPLETED"), key=lambda t: int(t.trial_id))
