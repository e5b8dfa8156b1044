"""Training on an image folder: examples/s of `tfmodel.train`'s fit ÷ the plain Keras script, and
peak RSS of `python -m tfmodel.train` on a fifth of the folder and on all of it.

`input_pipeline`'s generated JPEGs; configs/photos_cnn.yaml's convnet at 96×96, no augmentation,
Adam, a tenth held out. Plain: `image_dataset_from_directory(..., subset="both")`, `model.fit`;
ours: `training_speed.our_side`. A round is one epoch on a fifth of the folder, timed as
`training_speed` times them. Memory: the command in a fresh process, one epoch.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import alternate
from benchmarks.input_pipeline import IMAGE_SIZE, write_jpegs
from benchmarks.results import Figure, Result, Table
from benchmarks.run import main_one
from benchmarks.training_speed import REPO, Side, new_model, our_side
from tfmodel import data
from tfmodel.backend import keras, tf
from tfmodel.config import Config, load_config

RECIPE = REPO / "configs" / "photos_cnn.yaml"
SIZES = {"smoke": (100, 1), "quick": (1000, 2), "full": (5000, 3)}  # images, timed rounds a side
SPEED_GOAL, RSS_GOAL_MB = 1.0, 200.0
PEAK_RSS = (  # the command in a fresh process; prints its peak RSS in kB (Linux' ru_maxrss)
    "import resource, runpy, sys\n"
    "sys.argv = ['tfmodel.train', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('tfmodel.train', run_name='__main__')\n"
    "finally:\n"
    "    print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)
OVERRIDES = ["data.image_size=[96,96]", "data.augment=[]", "training.epochs=1"]


def recipe(root: Path) -> Config:
    overrides = [f"data.source=images:{root}", *OVERRIDES, "data.test_split=0.0"]
    return load_config(RECIPE, [*overrides, "data.validation_split=0.1", "training.verbose=0"])


def plain_side(config: Config, root: Path, splits) -> tuple[Side, int]:
    """`image_dataset_from_directory` + the same model + `model.fit`; and its training examples."""
    options = dict(batch_size=config.data.batch_size, seed=config.training.seed)
    train, val = keras.utils.image_dataset_from_directory(
        root, image_size=IMAGE_SIZE, validation_split=0.1, subset="both", **options
    )
    examples = len(train.file_paths)
    train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
    model = new_model(config, splits)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(config.optimizer.learning_rate), loss, ["accuracy"])

    def fit(callbacks: list = ()) -> None:
        model.fit(train, validation_data=val, epochs=1, verbose=0, callbacks=list(callbacks))

    return Side(model, fit), examples


def speed_rows(root: Path, rounds: int) -> list[list[str]]:
    """Training examples/s of each side, by wall and by CPU time, medians of the rounds."""
    config = recipe(root)
    splits = data.load_splits(config.data, config.training.seed)
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_examples = plain_side(config, root, splits)
        sides = {"plain": plain, "ours": our_side(config, splits, Path(tmp))}
        for side in sides.values():
            side.fit_round()  # warm-up: tracing, first file reads
        samples = alternate({k: s.timed_round for k, s in sides.items()}, rounds, warmup=0)
    examples = {"plain": plain_examples, "ours": len(splits.y_train)}
    rows = []
    for clock in ("wall", "cpu"):
        rate = [examples[k] / samples[k].median_of(clock) for k in ("plain", "ours")]
        name = f"training examples/s ({clock})"
        rows.append([name, f"{rate[0]:.0f}", f"{rate[1]:.0f}", f"{rate[1] / rate[0]:.2f}"])
    return rows


def peak_rss_mb(root: Path, output: Path) -> float:
    """Peak RSS of `python -m tfmodel.train` training one epoch on `root`, in MB."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    args = ["--config", str(RECIPE), "--output", str(output), "--no-resume"]
    for override in [f"data.source=images:{root}", *OVERRIDES, "export.enabled=false"]:
        args += ["--set", override]
    command = [sys.executable, "-c", PEAK_RSS, *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=output)
    line = [row for row in done.stdout.splitlines() if row.startswith("peak_rss_kb")][-1]
    return int(line.split()[1]) / 1024


def run(size: str = "full") -> Result:
    count, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as folder:
        root, small = Path(folder) / "all", Path(folder) / "fifth"
        write_jpegs(root, count)
        write_jpegs(small, count // 5)
        rows = speed_rows(small, rounds)
        # Two fresh training processes take minutes: the smoke size measures speed only.
        rss = [] if size == "smoke" else [peak_rss_mb(r, Path(folder)) for r in (small, root)]
    tables = [Table(["measure", "plain script", "tfmodel.train", "ours ÷ plain"], rows)]
    speed = float(rows[0][3])
    figures = [Figure("training examples/s, ours ÷ plain script", speed, "×", SPEED_GOAL)]
    if rss:
        rss_rows = [[count // 5, f"{rss[0]:.0f}"], [count, f"{rss[1]:.0f}"]]
        tables.append(Table(["images", "peak RSS MB of python -m tfmodel.train"], rss_rows))
        measure = f"peak RSS growth, {count // 5} → {count} images"
        figures.append(Figure(measure, max(rss[1] - rss[0], 0.1), "MB", RSS_GOAL_MB, False))
    method = f"{count} JPEGs (speed on {count // 5}), {rounds} timed round(s) a side, alternating."
    title = "Training on an image folder: tfmodel.train vs the plain Keras script"
    return Result("training_photos", title, method, tables, figures)


if __name__ == "__main__":
    sys.exit(main_one("training_photos"))
