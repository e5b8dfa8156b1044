"""Training speed of the project's SGD (momentum), Adam and RMSprop against tf_keras' built-ins.

    python -m benchmarks.optimizer_speed           # ~4 min on 2 cores; prints the table and
                                                   # rewrites its RESULTS.md section
    python -m benchmarks.optimizer_speed --quick   # ~20 s; prints only

Each pair (ours, built-in) trains twin models — same architecture, same initial weights, same
unshuffled batches, same hyperparameters — in this one process, on one TensorFlow thread. After
one untimed warm-up round (tracing), the two alternate round by round (A B, B A, A B …), each
round `model.fit` for the same number of steps. Steps/s comes from each side's median round of
wall-clock time; the ratio is given twice, from the median wall time and from the median process
CPU time, which does not count the time another job holds the core (on a shared machine a round
now and then takes twice as long on the wall clock). The final losses (on the test split) should
agree closely, since the rules are the same: the difference is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.results import (
    Figure,
    Section,
    benchmark_parser,
    check_size,
    describe_machine,
    markdown_table,
    print_and_record,
    section_text,
)
from tfmodel.backend import keras, tf
from tfmodel.config import DataConfig, ModelConfig, OptimizerConfig, RegularizerConfig
from tfmodel.data import Splits, build_dataset, load_splits
from tfmodel.models import build_model
from tfmodel.optimizers import make_optimizer

SECTION = "## Optimizers: project vs Keras built-ins"
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"  # beside the repo
BATCH_SIZE = 32  # the reference recipe's
# The reference recipe's SGD (without its cosine decay, so both sides see one constant rate) and
# the usual defaults for the adaptive ones.
OPTIMIZERS = {
    "SGD (momentum 0.9)": OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9),
    "Adam": OptimizerConfig(name="adam", learning_rate=1e-3),
    "RMSprop": OptimizerConfig(name="rmsprop", learning_rate=1e-3),
}
GOAL = 0.97  # ours ÷ Keras steps/s, for every optimizer
WHY = (
    "each rule runs the built-in's tensor ops (no hidden zero weight decay, Adam's bias "
    "corrections folded into two scalars, RMSprop's rsqrt), so `apply_gradients` alone costs what "
    "the built-in's does; a row below the goal is within the round-to-round spread of a loaded "
    "machine: rerun it on a quiet one (`python -m benchmarks.optimizer_speed`)"
)
# size → (steps per round, timed rounds, with the MNIST row)
SIZES = {"smoke": (2, 1, False), "quick": (60, 5, True), "full": (300, 21, True)}
EXAMPLES = """examples:
  python -m benchmarks.optimizer_speed
  python -m benchmarks.optimizer_speed --quick
  python -m benchmarks.optimizer_speed --steps 400 --rounds 9 --mnist ~/data/mnist
"""


@dataclass(frozen=True)
class Workload:
    """A model on a data source: an MLP with `hidden_units`, trained in batches of `batch_size`."""

    name: str
    source: str
    hidden_units: tuple[int, ...] = (128,)
    batch_size: int = BATCH_SIZE


@dataclass(frozen=True)
class Timing:
    """One side's timed rounds: wall-clock and process CPU seconds, one of each per round."""

    wall: list[float]
    cpu: list[float]


@dataclass(frozen=True)
class Comparison:
    """One optimizer, ours against Keras' built-in, on one workload."""

    workload: str
    optimizer: str
    steps: int  # per round
    ours: Timing
    keras: Timing
    ours_loss: float
    keras_loss: float

    @property
    def ours_steps_per_s(self) -> float:
        return self.steps / statistics.median(self.ours.wall)

    @property
    def keras_steps_per_s(self) -> float:
        return self.steps / statistics.median(self.keras.wall)

    @property
    def wall_ratio(self) -> float:
        """Ours steps/s ÷ built-in steps/s, from the median wall times (above 1: ours is faster)."""
        return statistics.median(self.keras.wall) / statistics.median(self.ours.wall)

    @property
    def cpu_ratio(self) -> float:
        """The same from the median CPU times: steadier when other jobs share the cores."""
        return statistics.median(self.keras.cpu) / statistics.median(self.ours.cpu)


def builtin_optimizer(cfg: OptimizerConfig) -> keras.optimizers.Optimizer:
    """tf_keras' own optimizer with the hyperparameters `make_optimizer` gives ours."""
    rate = cfg.learning_rate
    if cfg.name == "sgd":
        return keras.optimizers.SGD(rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return keras.optimizers.Adam(rate, cfg.beta_1, cfg.beta_2, cfg.epsilon)
    return keras.optimizers.RMSprop(rate, rho=cfg.rho, epsilon=cfg.epsilon)


def load_workload(workload: Workload, seed: int = 0) -> Splits | None:
    """The workload's splits, or None when its `idx:` data folder is absent (the row is skipped)."""
    scheme, _, argument = workload.source.partition(":")
    if scheme == "idx" and not Path(argument).is_dir():
        return None
    return load_splits(DataConfig(source=workload.source), seed)


def compare(
    workload: Workload,
    splits: Splits,
    name: str,
    cfg: OptimizerConfig,
    steps: int,
    rounds: int,
    seed: int = 0,
) -> Comparison:
    """Time `rounds` interleaved `model.fit` rounds of `steps` steps with ours and the built-in."""
    examples = steps * workload.batch_size  # no more than a round uses (keeps MNIST small)
    x, y = splits.x_train[:examples], splits.y_train[:examples]
    keras.utils.set_random_seed(seed)
    template = build_model(
        ModelConfig(hidden_units=list(workload.hidden_units)),
        RegularizerConfig(),
        splits.input_shape,
        splits.num_classes,
        splits.pixel_max,
    )
    optimizers = {"ours": make_optimizer(cfg, steps, rounds), "keras": builtin_optimizer(cfg)}
    sides = {}
    for side, optimizer in optimizers.items():
        model = keras.models.clone_model(template)
        model.set_weights(template.get_weights())
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        data = build_dataset(x, y, workload.batch_size, shuffle=False, seed=None).repeat()
        sides[side] = (model, data)

    def fit_round(side: str) -> tuple[float, float]:
        """Wall-clock and process CPU seconds of one `model.fit` of `steps` steps."""
        model, data = sides[side]
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        return time.perf_counter() - wall, time.process_time() - cpu

    for side in sides:  # warm-up: tracing and the first allocations
        fit_round(side)
    timings = {side: Timing([], []) for side in sides}
    for i in range(rounds):
        for side in ("ours", "keras") if i % 2 == 0 else ("keras", "ours"):
            wall, cpu = fit_round(side)
            timings[side].wall.append(wall)
            timings[side].cpu.append(cpu)
    losses = {side: final_loss(model, splits) for side, (model, _) in sides.items()}
    return Comparison(
        workload.name,
        name,
        steps,
        timings["ours"],
        timings["keras"],
        losses["ours"],
        losses["keras"],
    )


def final_loss(model: keras.Model, splits: Splits) -> float:
    """Cross-entropy on the test split plus the L2 penalty: the loss `fit` minimizes."""
    logits = model(splits.x_test, training=False)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(splits.y_test, logits)
    return float(loss + sum(model.losses))


COLUMNS = [
    "workload",
    "optimizer",
    "ours steps/s",
    "Keras steps/s",
    "ours ÷ Keras (wall)",
    "ours ÷ Keras (CPU)",
    "ours loss",
    "Keras loss",
    "loss Δ",
]


def format_table(comparisons: list[Comparison]) -> str:
    """The comparisons as a Markdown table, one row per (workload, optimizer)."""
    rows = [
        [
            c.workload,
            c.optimizer,
            f"{c.ours_steps_per_s:.0f}",
            f"{c.keras_steps_per_s:.0f}",
            f"{c.wall_ratio:.3f}",
            f"{c.cpu_ratio:.3f}",
            f"{c.ours_loss:.5f}",
            f"{c.keras_loss:.5f}",
            f"{c.ours_loss - c.keras_loss:+.1e}",
        ]
        for c in comparisons
    ]
    return markdown_table(COLUMNS, rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark_parser("optimizer_speed", __doc__.splitlines()[0], EXAMPLES)
    parser.add_argument("--steps", type=int, help="training steps per round (default 300)")
    parser.add_argument("--rounds", type=int, help="timed rounds per side (default 21)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="TensorFlow threads (default 1: steadier on a shared machine; 0 = TF's default)",
    )
    parser.add_argument(
        "--mnist",
        type=Path,
        default=MNIST_DIR,
        help=f"folder of MNIST's IDX files for the 784-128-10 row (default {MNIST_DIR}; "
        "the row is skipped when it is absent)",
    )
    return parser.parse_args(argv)


def run(
    size: str = "full",
    steps: int | None = None,
    rounds: int | None = None,
    mnist: Path = MNIST_DIR,
    threads: str = "default",
) -> Section:
    """Compare every optimizer on digits and (unless `size` is smoke) MNIST: the section."""
    check_size(size)
    default_steps, default_rounds, with_mnist = SIZES[size]
    steps, rounds = steps or default_steps, rounds or default_rounds
    machine = describe_machine()
    workloads = [Workload("digits MLP 64-128-10", "sklearn:digits")]
    if with_mnist:
        workloads.append(Workload("MNIST MLP 784-128-10", f"idx:{mnist}"))
    comparisons, skipped = [], []
    for workload in workloads:
        splits = load_workload(workload)
        if splits is None:
            folder = workload.source.partition(":")[2]
            skipped.append(f"{workload.name} skipped: no folder {folder} (pass --mnist DIR)")
            print(skipped[-1])
            continue
        for name, cfg in OPTIMIZERS.items():
            comparisons.append(compare(workload, splits, name, cfg, steps, rounds))
            c = comparisons[-1]
            print(f"{workload.name}, {name}: ours ÷ Keras {c.cpu_ratio:.3f} (CPU)", flush=True)
    table = format_table(comparisons)
    text = section_text(
        SECTION,
        f"`python -m benchmarks.optimizer_speed` — `model.fit` steps/s of twin models (same "
        f"initial weights, same batches of {BATCH_SIZE}, same hyperparameters), {steps} steps "
        f"a round over the first {steps * BATCH_SIZE} training examples (MNIST; digits has "
        "fewer, repeated), "
        f"{rounds} timed rounds a side after a warm-up round, ours and Keras' alternating; "
        "steps/s from each side's median round (wall clock); `ours ÷ Keras` is ours steps/s ÷ "
        "Keras' (above 1: ours is faster), from the median wall times and from the median "
        "process CPU times (CPU time does not count the time other jobs hold the core). Loss: "
        "test-split loss, L2 penalty included, after all rounds; SGD and RMSprop follow Keras' "
        "arithmetic, Adam adds ε to √v̂ where Keras adds it to √v, a small drift over thousands "
        "of steps.",
        *(f"{line}." for line in skipped),
        table,
        machine=f"{machine}; TensorFlow threads {threads}",
    )
    figures = [
        Figure(
            "optimizers",
            f"{c.optimizer} ÷ Keras steps/s, {c.workload} (CPU time)",
            c.cpu_ratio,
            "×",
            GOAL,
            why=WHY,
        )
        for c in comparisons
    ]
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:  # before TensorFlow runs its first op
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    size = "quick" if args.quick else "full"
    section = run(size, args.steps, args.rounds, args.mnist, str(args.threads or "default"))
    return print_and_record(section, args.quick)


if __name__ == "__main__":
    sys.exit(main())
