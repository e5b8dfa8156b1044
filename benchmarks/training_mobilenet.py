"""Training images/s of MobileNetV2 α 0.35 at 96×96 through `tfmodel.train`'s fit against the plain
`model.fit(x, y)`, in float32, mixed bfloat16 and with XLA: which defaults the figures support.

    python -m benchmarks.training_mobilenet          # ~10 min on 2 cores; prints the table and
                                                     # rewrites its section of RESULTS.md
    python -m benchmarks.training_mobilenet --quick  # float32 only, fewer images; prints only

The model is `configs/photos_mobilenet_v2.yaml`'s (random weights) on generated images (a bright
or a dark class), both sides with SGD (momentum 0.9, constant rate) so the update rules match; the
rounds, sides and columns are `benchmarks.training_speed`'s. The baseline always trains in float32
without XLA (the plain script); ours with `training.precision` and `training.jit_compile` as the
row says.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.results import (
    Figure,
    Section,
    benchmark_parser,
    check_size,
    markdown_table,
    print_and_record,
    section_text,
)
from benchmarks.training_speed import COLUMNS, REPO, compare, format_row
from tfmodel.config import Config, load_config
from tfmodel.data import Splits

SECTION = "## Training: MobileNetV2 α 0.35 96×96, tfmodel.train vs plain model.fit"
GOAL = 1.0  # ours ÷ baseline images/s (issue 21)
WHY = (
    "the training steps themselves run at the plain script's speed (the same kernels: the "
    "network is compute-bound, so a tf.data pipeline and 32 steps a call gain nothing here); "
    "what is left is what only tfmodel.train does, validation every epoch"
)
RECIPE = "configs/photos_mobilenet_v2.yaml"
# size → (model.name, image side, training images, epochs a round, timed rounds, variants
# measured). A round of a few epochs, as a run has many: what a fit pays once (TensorBoard's graph,
# 0.24 s for MobileNet, at its first batch) is then not paid every epoch. The smoke test's stand-in
# is the built-in cnn, which traces in seconds where a MobileNet takes a minute.
SIZES = {
    "smoke": ("cnn", 32, 16, 1, 1, 1),
    "quick": ("mobilenet_v2", 96, 256, 2, 2, 1),
    "full": ("mobilenet_v2", 96, 512, 3, 4, 3),
}
NAMES = {"cnn": "built-in cnn", "mobilenet_v2": "MobileNetV2 α 0.35"}
# (row label, training.precision, training.jit_compile)
VARIANTS = (
    ("float32", "float32", False),
    ("mixed_bfloat16", "mixed_bfloat16", False),
    ("float32 + XLA", "float32", True),
)


def mobilenet_config(
    network: str, side: int, epochs: int, precision: str, jit_compile: bool
) -> Config:
    """The reference MobileNet recipe at `side`×`side`, `epochs` a round, SGD as the baseline's."""
    return load_config(
        REPO / RECIPE,
        [
            f"model.name={network}",
            f"data.image_size=[{side},{side}]",
            "optimizer.name=sgd",
            "optimizer.schedule=constant",
            "optimizer.learning_rate=0.01",
            f"training.precision={precision}",
            f"training.jit_compile={str(jit_compile).lower()}",
            f"training.epochs={epochs}",
            "training.verbose=0",
        ],
    )


def generated_splits(side: int, n_train: int, seed: int = 0) -> Splits:
    """Raw-pixel images, a bright and a dark class, as arrays (the baseline takes numpy)."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        level = np.where(y == 1, 170.0, 60.0)[:, None, None, None]
        x = np.clip(level + rng.normal(0, 40, (n, side, side, 3)), 0, 255).astype(np.float32)
        return x, y.astype(np.int64)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (images(n) for n in (n_train, 32, 64))
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, ["dark", "bright"], 255.0)


def run(size: str = "full") -> Section:
    """One row per variant: ours ÷ baseline images/s, wall and CPU time."""
    check_size(size)
    network, side, n_train, epochs, rounds, variants = SIZES[size]
    splits = generated_splits(side, n_train)
    rows = []
    for label, precision, jit in VARIANTS[:variants]:
        name = f"{NAMES[network]} {side}×{side}, ours {label}"
        config = mobilenet_config(network, side, epochs, precision, jit)
        rows.append(compare(name, config, splits, rounds))
        print(f"{name}: ours ÷ baseline {rows[-1][4]:.2f} (wall)", flush=True)
    table = markdown_table(COLUMNS, [format_row(r) for r in rows])
    text = section_text(
        SECTION,
        f"`python -m benchmarks.training_mobilenet` — {RECIPE}'s model (random weights) on "
        f"{n_train} generated {side}×{side} images, batch 32, {rounds} timed round(s) a side "
        f"after a warm-up round, alternating; a round is one fit of {epochs} epoch(s), each "
        "timed from its start to the end of its callbacks (not fit's own start and end, "
        "paid once a run). Baseline: "
        "`model.fit(x, y, batch_size=32)` with Keras' SGD in float32; ours: the fit "
        "`tfmodel.train` runs (as in the section above) with the row's "
        "`training.precision` / `training.jit_compile`.",
        table,
    )
    figures = [
        Figure(
            "training", f"ours ÷ model.fit images/s, {r[0]} (CPU time)", r[5], "×", GOAL, why=WHY
        )
        for r in rows[:1]
    ]
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    args = benchmark_parser("training_mobilenet", __doc__.splitlines()[0]).parse_args(argv)
    return print_and_record(run("quick" if args.quick else "full"), args.quick)


if __name__ == "__main__":
    sys.exit(main())
