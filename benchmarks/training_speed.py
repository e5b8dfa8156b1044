"""Training examples/s of `tfmodel.train`'s pipeline against the plain `model.fit(x, y)` a user
would write, on the digits MLP and on a 784-input MLP (MNIST), and the whole command's wall time.

    python -m benchmarks.training_speed           # ~3.5 min on 2 cores; prints the table and
                                                  # rewrites its section of benchmarks/RESULTS.md
    python -m benchmarks.training_speed --quick   # ~1 min; prints only

Both sides train the same model (`tfmodel.models.build_model`, the reference recipe's MLP) on the
same training split in batches of 32. The baseline: Keras' built-in SGD (momentum 0.9, the
recipe's rate, no schedule) and `model.fit(x, y, batch_size=32)` on numpy arrays. Ours: what
`tfmodel.train` runs — its strategy for this machine, its tf.data pipelines, `compile_for_training`
with its defaults, validation every epoch and its callbacks (backup, best weights, TensorBoard,
history CSV) writing into a scratch run folder. A round is one `fit` of the recipe's epochs; the
first round of each side trains from fresh weights, is not timed, and gives the test accuracy;
then the sides alternate. A round's time is its epochs' (start of each to the end of every
callback's work at its end), not fit's start and end, which a run pays once. Examples/s counts
training examples over the median round's wall time;
the ratio is also given from process CPU time, steadier on a shared machine. The whole command:
`python -m tfmodel.train` (which also evaluates, saves and exports) against a script doing the
baseline's fit and evaluation, each in a fresh process, alternating.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.optimizer_speed import MNIST_DIR
from benchmarks.results import (
    Figure,
    Section,
    benchmark_parser,
    check_size,
    markdown_table,
    print_and_record,
    section_text,
)
from tfmodel import data
from tfmodel.backend import keras
from tfmodel.config import Config, DataConfig, load_config
from tfmodel.data import Splits
from tfmodel.distribute import strategies
from tfmodel.models import build_model, compile_for_training
from tfmodel.resume import BackupPlan, make_callbacks
from tfmodel.training.setting import fit_data, global_policy

SECTION = "## Training: tfmodel.train vs plain model.fit"
REPO = Path(__file__).resolve().parents[1]
GOAL = 2.0  # ours ÷ baseline examples/s
WHY = (
    "the training steps alone run 2.5-3× faster than the baseline's on digits (32 steps per "
    "execution, no strategy wrapper, one iterator for all epochs), but `tfmodel.train` also does "
    "what the baseline does not: validation every epoch (~10-20 ms an epoch, as much as a digits "
    "epoch's training), TensorBoard scalars (~8 ms) and the history CSV. Closing the gap means "
    "validating and logging every few epochs, which changes what a run records"
)
# size → (timed rounds, epochs a round on digits, MNIST training examples (0: no MNIST row),
#         whole-command runs a side)
SIZES = {"smoke": (1, 1, 0, 0), "quick": (2, 20, 8_000, 1), "full": (7, 20, 30_000, 3)}
MNIST_EPOCHS = 2
# The whole command's baseline: what a user's own script would do with the same data and model.
BASELINE_SCRIPT = """
from tfmodel.backend import keras
from tfmodel.config import load_config
from tfmodel.data import load_splits
from tfmodel.models import build_model
config = load_config()
splits = load_splits(config.data, config.training.seed)
model = build_model(config.model, config.regularizer, splits.input_shape, splits.num_classes,
                    splits.pixel_max)
model.compile(keras.optimizers.SGD(config.optimizer.learning_rate, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
model.fit(splits.x_train, splits.y_train, batch_size=32, epochs=config.training.epochs, verbose=0)
print("test accuracy", model.evaluate(splits.x_test, splits.y_test, verbose=0)[1])
"""
COLUMNS = [
    "workload",
    "epochs a round",
    "baseline examples/s",
    "ours examples/s",
    "ours ÷ baseline (wall)",
    "ours ÷ baseline (CPU)",
    "baseline test accuracy",
    "ours test accuracy",
]


class EpochClock(keras.callbacks.Callback):
    """Wall and CPU seconds of each epoch: from its start to the end of every callback's epoch
    end (validation, backups and logs included), without fit's own start and end, which a run
    pays once (building the iterators, the backup kept at train end) and a one-epoch round of a
    benchmark would pay every epoch. Must be the last callback."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = 0.0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += time.process_time() - self._start[1]


@dataclasses.dataclass
class Side:
    """One side: its model, one round of training (`fit_round(callbacks)` adds `callbacks` last
    to its fit's), and its timed rounds: the seconds of the round's epochs (`EpochClock`)."""

    model: keras.Model
    fit_round: Callable[[list], None]
    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    accuracy: float = 0.0

    def timed_round(self) -> None:
        clock = EpochClock()
        self.fit_round([clock])
        self.wall.append(clock.wall)
        self.cpu.append(clock.cpu)


def recipe(epochs: int) -> Config:
    """The reference recipe, quiet, for `epochs` epochs."""
    config = load_config()
    config.training.verbose = 0
    config.training.epochs = epochs
    return config


def baseline_side(config: Config, splits: Splits) -> Side:
    """Keras' built-in SGD and `model.fit` on numpy arrays, batch 32: what a user writes."""
    model = new_model(config, splits)
    model.compile(
        keras.optimizers.SGD(config.optimizer.learning_rate, momentum=config.optimizer.momentum),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
    )
    epochs = config.training.epochs

    def fit(clocks: list = ()) -> None:
        x, y = splits.x_train, splits.y_train
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=list(clocks))

    return Side(model, fit)


def our_side(config: Config, splits: Splits, run_dir: Path) -> Side:
    """`tfmodel.train`'s fit: its strategy, pipelines, compile recipe, validation and callbacks."""
    from tfmodel.backend import tf

    info = strategies.make_strategy(config.training.strategy)
    data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # set by ExactBackup
    inputs = fit_data(config, splits, config.data.batch_size, False, data_epoch)
    steps = inputs["steps_per_epoch"]
    policy = strategies.precision_policy(config.training.precision, info)
    with info.strategy.scope(), global_policy(policy):
        model = new_model(config, splits)
        compile_for_training(
            model,
            config.optimizer,
            steps,
            config.training.epochs,
            steps_per_execution=strategies.steps_per_execution(config.training.steps_per_execution),
            jit_compile=config.training.jit_compile,
        )

    def fit(clocks: list = ()) -> None:
        # A fresh run folder a round: the last round's backup marks its epochs as done (it is
        # kept until a run is recorded), and a fit resumed from it would train nothing.
        folder = Path(tempfile.mkdtemp(dir=run_dir))
        plan = BackupPlan(data_epoch, steps, every_s=config.training.backup_every_s)
        callbacks = make_callbacks(config, folder, folder, plan, has_val=True, resuming=False)
        callbacks = [*callbacks, *clocks]
        model.fit(**inputs, epochs=config.training.epochs, verbose=0, callbacks=callbacks)

    return Side(model, fit)


def new_model(config: Config, splits: Splits) -> keras.Model:
    keras.utils.set_random_seed(config.training.seed)
    return build_model(
        config.model, config.regularizer, splits.input_shape, splits.num_classes, splits.pixel_max
    )


def compare(name: str, config: Config, splits: Splits, rounds: int) -> list[object]:
    """Warm up both sides (their test accuracy), then alternate timed rounds: one table row."""
    with tempfile.TemporaryDirectory() as tmp:
        sides = {
            "baseline": baseline_side(config, splits),
            "ours": our_side(config, splits, Path(tmp)),
        }
        for side in sides.values():
            side.fit_round()
            test = data.build_dataset(splits.x_test, splits.y_test, 256, shuffle=False, seed=0)
            side.accuracy = float(side.model.evaluate(test, verbose=0)[1])
        for i in range(rounds):
            for key in ("baseline", "ours") if i % 2 == 0 else ("ours", "baseline"):
                sides[key].timed_round()
    base, ours = sides["baseline"], sides["ours"]
    examples = len(splits.x_train) * config.training.epochs
    return [
        name,
        config.training.epochs,
        examples / statistics.median(base.wall),
        examples / statistics.median(ours.wall),
        statistics.median(base.wall) / statistics.median(ours.wall),
        statistics.median(base.cpu) / statistics.median(ours.cpu),
        base.accuracy,
        ours.accuracy,
    ]


def whole_command(runs: int) -> tuple[float, float]:
    """Median wall seconds of `python -m tfmodel.train` and of the baseline script, alternating."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    times = {"ours": [], "baseline": []}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "ours": [sys.executable, "-m", "tfmodel.train", "--output", tmp, "--no-resume"],
            "baseline": [sys.executable, "-c", BASELINE_SCRIPT],
        }
        for i in range(runs):
            for key in ("baseline", "ours") if i % 2 == 0 else ("ours", "baseline"):
                start = time.perf_counter()
                subprocess.run(
                    commands[key], check=True, capture_output=True, env=env, cwd=tmp, timeout=600
                )
                times[key].append(time.perf_counter() - start)
    return statistics.median(times["ours"]), statistics.median(times["baseline"])


def format_row(row: list[object]) -> list[str]:
    name, epochs, base, ours, wall, cpu, base_acc, ours_acc = row
    return [
        name,
        str(epochs),
        f"{base:.0f}",
        f"{ours:.0f}",
        f"{wall:.2f}",
        f"{cpu:.2f}",
        f"{base_acc:.4f}",
        f"{ours_acc:.4f}",
    ]


def run(size: str = "full", mnist: Path = MNIST_DIR) -> Section:
    """Digits, then MNIST (when its folder is there and `size` is not smoke), then the command."""
    check_size(size)
    rounds, digits_epochs, mnist_examples, command_runs = SIZES[size]
    workloads = [("digits MLP 64-128-10", recipe(digits_epochs), DataConfig())]
    notes = []
    if mnist_examples and mnist.is_dir():
        workloads.append(
            (
                f"MNIST MLP 784-128-10 ({mnist_examples} examples)",
                recipe(MNIST_EPOCHS),
                DataConfig(source=f"idx:{mnist}"),
            )
        )
    elif mnist_examples:
        notes.append(f"MNIST skipped: no folder {mnist}.")
    rows = []
    for name, config, data_config in workloads:
        config.data = data_config
        splits = data.load_splits(config.data, config.training.seed)
        if "MNIST" in name:
            splits = dataclasses.replace(
                splits,
                x_train=splits.x_train[:mnist_examples],
                y_train=splits.y_train[:mnist_examples],
            )
        rows.append(compare(name, config, splits, rounds))
        print(f"{name}: ours ÷ baseline {rows[-1][4]:.2f} (wall)", flush=True)
    table = markdown_table(COLUMNS, [format_row(r) for r in rows])
    if command_runs:
        ours_s, base_s = whole_command(command_runs)
        notes.append(
            f"Whole command on digits ({command_runs} run(s) a side, median wall time in a fresh "
            f"process): `python -m tfmodel.train` {ours_s:.1f} s (20 epochs, evaluation, saving, "
            f"SavedModel export), the baseline script {base_s:.1f} s (20 epochs, evaluation): "
            f"ours ÷ baseline speed {base_s / ours_s:.2f}."
        )
    text = section_text(
        SECTION,
        f"`python -m benchmarks.training_speed` — {rounds} timed rounds a side after a warm-up "
        "round, alternating; a round is one `fit` of the epochs shown. Baseline: "
        "`model.fit(x, y, batch_size=32)` with Keras' SGD (momentum 0.9); ours: the fit "
        "`tfmodel.train` runs (its strategy, tf.data with the epoch-seeded order, "
        "the configured steps_per_execution, validation every epoch, exact backup, "
        "best weights, TensorBoard and CSV callbacks). Test accuracy after the warm-up round "
        "(fresh weights, the epochs shown).",
        table,
        *notes,
    )
    figures = [
        Figure(
            "training", f"ours ÷ model.fit examples/s, {r[0]} (CPU time)", r[5], "×", GOAL, why=WHY
        )
        for r in rows
    ]
    return Section(SECTION, text, table, figures)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark_parser("training_speed", __doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=MNIST_DIR, help="folder of MNIST's IDX files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return print_and_record(run("quick" if args.quick else "full", args.mnist), args.quick)


if __name__ == "__main__":
    sys.exit(main())
