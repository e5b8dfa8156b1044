"""Training examples/s of `tfmodel.train`'s fit against the plain `model.fit(x, y)` a user writes:
the digits MLP and MobileNetV2 α 0.35 at 96×96 (float32, mixed bfloat16, XLA).

Batches of 32, SGD (momentum 0.9); baseline float32. A round is one `fit`, timed from each epoch's
start to its callbacks' end; the untimed warm-up round trains fresh weights, gives test accuracy.
"""

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.harness import REPO, alternate
from benchmarks.results import Figure, Result, Table
from tfmodel import data
from tfmodel.backend import keras, tf
from tfmodel.config import Config, load_config
from tfmodel.data import Splits
from tfmodel.distribute import strategies
from tfmodel.models import build_model
from tfmodel.models.model_keras import keras_of
from tfmodel.training.fitting import build_model_and_phases, fit
from tfmodel.training.run_folder import RunFolder
from tfmodel.training.setting import Setting, fit_data

MOBILENET_RECIPE = REPO / "configs" / "photos_mobilenet_v2.yaml"
MLP_GOAL, MOBILENET_GOAL = 2.0, 1.0  # ours ÷ baseline examples/s, CPU time
# size → (rounds, digits epochs a round, (network, image side, images, epochs a round, variants))
SIZES = {
    "smoke": (1, 1, ("cnn", 32, 16, 1, 1)),  # a stand-in for MobileNet that traces in seconds
    "quick": (2, 20, ("mobilenet_v2", 96, 256, 2, 1)),
    "full": (7, 20, ("mobilenet_v2", 96, 512, 3, 3)),
}
QUIET = "training.verbose=0"
COLOURS = ["red", "green", "blue"]
VARIANTS = (("float32", False), ("mixed_bfloat16", False), ("float32", True))  # precision, XLA
COLUMNS = ["workload", "epochs a round", "baseline examples/s", "ours examples/s"]
COLUMNS += ["ours ÷ baseline (wall)", "ours ÷ baseline (CPU)", "baseline accuracy", "ours accuracy"]


class EpochClock:
    """Wall and CPU seconds of a fit's epochs after the first `skip`, through every callback's."""

    def __init__(self, skip: int = 0):
        self.wall, self.cpu, self.skip = 0.0, 0.0, skip

    def begin(self, epoch, logs=None):
        self._start = time.perf_counter(), time.process_time()

    def end(self, epoch, logs=None):
        if epoch >= self.skip:
            self.wall += time.perf_counter() - self._start[0]
            self.cpu += time.process_time() - self._start[1]


@dataclasses.dataclass
class Side:
    """A model and one round of its training: `fit_round(callbacks)` adds them last to fit's."""

    model: object
    fit_round: Callable[[list], None]

    def timed_round(self, skip: int = 0) -> EpochClock:
        """A round timed but for its first `skip` epochs, by a callback of the model's Keras."""
        clock, make = EpochClock(skip), keras_of(self.model).keras.callbacks.LambdaCallback
        self.fit_round([make(on_epoch_begin=clock.begin, on_epoch_end=clock.end)])
        return clock


def new_model(config: Config, splits: Splits) -> keras.Model:
    keras.utils.set_random_seed(config.training.seed)
    shape, classes, pixel_max = splits.input_shape, splits.num_classes, splits.pixel_max
    return build_model(config.model, config.regularizer, shape, classes, pixel_max)


def baseline_side(config: Config, splits: Splits) -> Side:
    """Keras' built-in SGD and `model.fit` on numpy arrays, batch 32: what a user writes."""
    model = new_model(config, splits)
    optimizer = keras.optimizers.SGD(config.optimizer.learning_rate, config.optimizer.momentum)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer, loss, ["accuracy"])

    def fit(callbacks: list = ()) -> None:
        x, y, epochs = splits.x_train, splits.y_train, config.training.epochs
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=list(callbacks))

    return Side(model, fit)


def our_side(config: Config, splits: Splits, run_dir: Path) -> Side:
    """`tfmodel.train`'s model and fit: strategy, pipelines, compile, validation, callbacks."""
    info, t = strategies.make_strategy(config.training.strategy), config.training
    data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # set by the backups
    inputs = fit_data(config, splits, config.data.batch_size, False, data_epoch)
    policy, batch = strategies.precision_policy(t.precision, info), config.data.batch_size
    setting = Setting(info, policy, splits, batch, False, data_epoch, inputs, t.backup_every_s, 0.0)
    keras.utils.set_random_seed(t.seed)
    model, phases = build_model_and_phases(config, setting)

    def fit_round(callbacks: list = ()) -> None:
        # A fresh run folder a round: a finished round's backup would make the next fit resume
        # past its last epoch and train nothing.
        folder = Path(tempfile.mkdtemp(dir=run_dir))
        run = RunFolder(folder, folder, resuming=False, chief=True)
        fit(config, setting, run, model, phases, callbacks)

    return Side(model, fit_round)


def compare(name: str, config: Config, splits: Splits, rounds: int) -> list:
    """Warm up both sides (their test accuracy), then alternate timed rounds: one table row."""
    test = data.build_dataset(splits.x_test, splits.y_test, 256, shuffle=False, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"baseline": baseline_side(config, splits), "ours": our_side(config, splits, tmp)}
        accuracy = {}
        for key, side in sides.items():
            side.fit_round()
            accuracy[key] = float(side.model.evaluate(test, verbose=0)[1])
        samples = alternate({k: s.timed_round for k, s in sides.items()}, rounds, warmup=0)
    base, ours = samples["baseline"], samples["ours"]
    examples = len(splits.x_train) * config.training.epochs
    wall, cpu = (base.median_of(clock) / ours.median_of(clock) for clock in ("wall", "cpu"))
    rates = [f"{examples / s.median_of('wall'):.0f}" for s in (base, ours)]
    accuracies = [f"{accuracy[k]:.4f}" for k in ("baseline", "ours")]
    return [name, config.training.epochs, *rates, f"{wall:.2f}", f"{cpu:.2f}", *accuracies]


def colour_splits(side: int, count: int, seed: int = 0) -> Splits:
    """Noisy RGB images, class k brightest in channel k, raw pixels 0..255; 20 % test."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(COLOURS), count)
    x = rng.integers(0, 140, size=(count, side, side, 3)).astype(np.float32)
    x[np.arange(count), :, :, y] += rng.integers(60, 116, size=(count, 1, 1)).astype(np.float32)
    test = count // 5
    return Splits(x[test:], y[test:], x[:0], y[:0], x[:test], y[:test], COLOURS, 255.0)


def mobilenet_rows(rounds: int, network: str, side: int, images: int, epochs: int, variants: int):
    """One row per variant of ours (the baseline stays float32 without XLA)."""
    splits = colour_splits(side, images * 5 // 4)  # a fifth of them the test split
    splits = dataclasses.replace(splits, x_val=splits.x_test, y_val=splits.y_test)
    rows = []
    for precision, jit in VARIANTS[:variants]:
        overrides = [f"model.name={network}", f"data.image_size=[{side},{side}]", QUIET]
        overrides += ["optimizer.name=sgd", "optimizer.schedule=constant"]
        overrides += ["optimizer.learning_rate=0.01", f"training.precision={precision}"]
        overrides += [f"training.jit_compile={str(jit).lower()}", f"training.epochs={epochs}"]
        config = load_config(MOBILENET_RECIPE, overrides)
        name = f"{network} {side}×{side}, ours {precision}" + (" + XLA" if jit else "")
        rows.append(compare(name, config, splits, rounds))
    return rows


def run(size: str = "full") -> Result:
    rounds, epochs, mobilenet = SIZES[size]
    config = load_config(None, [f"training.epochs={epochs}", QUIET])  # the reference recipe
    mlp = compare("digits MLP 64-128-10", config, data.load_splits(config.data, 0), rounds)
    mobile = mobilenet_rows(rounds, *mobilenet)
    goals = [(mlp, MLP_GOAL), (mobile[0], MOBILENET_GOAL)]  # MobileNet: float32, no XLA
    measure = "ours ÷ model.fit examples/s, {} (CPU)"
    figures = [Figure(measure.format(r[0]), float(r[5]), "×", goal) for r, goal in goals]
    method = f"{rounds} timed round(s) a side, alternating."
    title = "Training: tfmodel.train vs plain model.fit"
    return Result("training_speed", title, method, [Table(COLUMNS, [mlp, *mobile])], figures)
