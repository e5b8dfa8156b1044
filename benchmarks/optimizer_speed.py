"""Training steps/s of the project's SGD (momentum), Adam and RMSprop against tf_keras' built-ins.

Twin models (same architecture, initial weights, unshuffled batches, hyperparameters) alternate
`model.fit` rounds of the same steps after a warm-up round; ratios of median wall and CPU times,
and each side's final test loss (L2 penalty included).
"""

from dataclasses import dataclass

from benchmarks.harness import REPO, Samples, alternate, speedup
from benchmarks.results import Figure, Result, Table
from benchmarks.training_speed import new_model
from tfmodel.backend import keras
from tfmodel.config import Config, DataConfig, ModelConfig, OptimizerConfig
from tfmodel.data import Splits, build_dataset, load_splits
from tfmodel.optimizers import make_optimizer

BATCH_SIZE = 32  # the reference recipe's
OPTIMIZERS = {  # the reference recipe's SGD without its decay; the usual adaptive defaults
    "SGD (momentum 0.9)": OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9),
    "Adam": OptimizerConfig(name="adam", learning_rate=1e-3),
    "RMSprop": OptimizerConfig(name="rmsprop", learning_rate=1e-3),
}
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"  # beside the repo; skipped when absent
GOAL = 0.97  # ours ÷ Keras steps/s (CPU time), for every optimizer
SIZES = {"smoke": (2, 1, False), "quick": (60, 5, True), "full": (300, 21, True)}  # steps, rounds
COLUMNS = ["workload", "optimizer", "ours steps/s", "Keras steps/s", "ours ÷ Keras (wall)"]
COLUMNS += ["ours ÷ Keras (CPU)", "ours loss", "Keras loss", "loss Δ"]


@dataclass(frozen=True)
class Comparison:
    """One optimizer, ours against Keras' built-in, on one workload."""

    workload: str
    optimizer: str
    steps: int  # per round
    ours: Samples
    keras: Samples
    ours_loss: float
    keras_loss: float

    def row(self) -> list[str]:
        rates = [f"{self.steps / s.median():.0f}" for s in (self.ours, self.keras)]
        ratios = [f"{speedup(self.ours, self.keras, c):.3f}" for c in ("wall", "cpu")]
        losses = [f"{self.ours_loss:.5f}", f"{self.keras_loss:.5f}"]
        delta = f"{self.ours_loss - self.keras_loss:+.1e}"
        return [self.workload, self.optimizer, *rates, *ratios, *losses, delta]


def builtin_optimizer(cfg: OptimizerConfig) -> keras.optimizers.Optimizer:
    """tf_keras' own optimizer with the hyperparameters `make_optimizer` gives ours."""
    if cfg.name == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return keras.optimizers.Adam(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.epsilon)
    return keras.optimizers.RMSprop(cfg.learning_rate, rho=cfg.rho, epsilon=cfg.epsilon)


def compare(workload, splits: Splits, name, cfg: OptimizerConfig, steps, rounds, hidden=(128,)):
    """`rounds` alternating `model.fit` rounds of `steps` steps, ours and the built-in's."""
    examples = steps * BATCH_SIZE  # no more than a round uses (keeps MNIST small)
    x, y = splits.x_train[:examples], splits.y_train[:examples]
    template = new_model(Config(model=ModelConfig(hidden_units=list(hidden))), splits)  # seed 0
    optimizers = {"ours": make_optimizer(cfg, steps, rounds), "keras": builtin_optimizer(cfg)}
    models, sides = {}, {}
    for side, optimizer in optimizers.items():
        model = models[side] = keras.models.clone_model(template)
        model.set_weights(template.get_weights())
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        data = build_dataset(x, y, BATCH_SIZE, shuffle=False, seed=None).repeat()
        sides[side] = lambda m=model, d=data: m.fit(d, steps_per_epoch=steps, verbose=0)
    samples = alternate(sides, rounds)
    losses = [final_loss(models[side], splits) for side in ("ours", "keras")]
    return Comparison(workload, name, steps, samples["ours"], samples["keras"], *losses)


def final_loss(model: keras.Model, splits: Splits) -> float:
    """Cross-entropy on the test split plus the L2 penalty: the loss `fit` minimizes."""
    logits = model(splits.x_test, training=False)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(splits.y_test, logits)
    return float(loss + sum(model.losses))


def run(size: str = "full") -> Result:
    steps, rounds, with_mnist = SIZES[size]
    workloads = {"digits MLP 64-128-10": DataConfig()}
    if with_mnist and MNIST_DIR.is_dir():
        workloads["MNIST MLP 784-128-10"] = DataConfig(source=f"idx:{MNIST_DIR}")
    comparisons = []
    for workload, source in workloads.items():
        splits = load_splits(source, 0)
        for name, cfg in OPTIMIZERS.items():
            comparisons.append(compare(workload, splits, name, cfg, steps, rounds))
    figures = [
        Figure(f"{c.optimizer} ÷ Keras steps/s, {c.workload} (CPU time)", ratio, "×", GOAL)
        for c in comparisons
        for ratio in [speedup(c.ours, c.keras, "cpu")]
    ]
    method = f"{steps} steps a round, {rounds} timed round(s) a side after a warm-up, alternating."
    tables = [Table(COLUMNS, [c.row() for c in comparisons])]
    title = "Optimizers: project vs Keras built-ins"
    return Result("optimizer_speed", title, method, tables, figures)
