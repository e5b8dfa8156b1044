"""Training on an image folder: examples/s of `tfmodel.train`'s fit ÷ the plain Keras script, a
whole fit likewise, and peak RSS of `python -m tfmodel.train` on a fifth of the folder and on all.

`input_pipeline`'s generated JPEGs; configs/photos_cnn.yaml's convnet at 96×96, no augmentation,
Adam, a tenth held out. Plain: `image_dataset_from_directory(..., subset="both")`, `model.fit`;
ours: `training_speed.our_side`. A round is one epoch on a fifth of the folder, timed as
`training_speed` times them. A whole fit (SIZES' third figure: its images): listing, a fresh
MobileNetV2 (smoke: the convnet), 2 epochs; best of 3 turns a side. Memory: a fresh process.
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
from benchmarks.training_speed import MOBILENET_RECIPE, REPO, Side, new_model, our_side
from tfmodel import data
from tfmodel.backend import keras, tf
from tfmodel.config import Config, load_config

RECIPE = REPO / "configs" / "photos_cnn.yaml"
SIZES = {"smoke": (100, 1, 40), "quick": (1000, 2, 600), "full": (5000, 3, 600)}
SPEED_GOAL, WHOLE_FIT_GOAL, RSS_GOAL_MB = 1.0, 0.9, 200.0
PEAK_RSS = (  # the command in a fresh process; prints its peak RSS in kB (Linux' ru_maxrss)
    "import resource, runpy, sys\n"
    "sys.argv = ['tfmodel.train', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('tfmodel.train', run_name='__main__')\n"
    "finally:\n"
    "    print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)
OVERRIDES = ["data.image_size=[96,96]", "data.augment=[]", "training.epochs=1"]


def recipe(root: Path, path: Path = RECIPE, epochs: int = 1) -> tuple[Config, data.StreamedSplits]:
    overrides = [f"data.source=images:{root}", *OVERRIDES, "data.test_split=0.0"]
    overrides += [f"training.epochs={epochs}", "data.validation_split=0.1", "training.verbose=0"]
    config = load_config(path, overrides)
    return config, data.load_splits(config.data, config.training.seed)


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
        epochs = config.training.epochs
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=list(callbacks))

    return Side(model, fit), examples


def speed_rows(root: Path, rounds: int, tmp: Path) -> list[list[str]]:
    """Training examples/s of each side, by wall and by CPU time, medians of the rounds."""
    config, splits = recipe(root)
    plain, plain_examples = plain_side(config, root, splits)
    sides = {"plain": plain, "ours": our_side(config, splits, tmp)}
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


def whole_fit_ratio(root: Path, path: Path, tmp: Path, turns: int = 3) -> float:
    """Ours ÷ plain speed of a whole 2-epoch fit (listing, a fresh model), best turn a side."""
    config, splits = recipe(root, path, epochs=2)
    sides = {
        "plain": lambda: plain_side(config, root, splits)[0].fit_round(),
        "ours": lambda: our_side(config, recipe(root, path, epochs=2)[1], tmp).fit_round(),
    }
    samples = alternate(sides, turns, warmup=0, keep=False)
    return min(samples["plain"].wall) / min(samples["ours"].wall)


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
    count, rounds, whole_count = SIZES[size]
    whole_recipe = RECIPE if size == "smoke" else MOBILENET_RECIPE
    with tempfile.TemporaryDirectory() as folder:
        root, small, whole = (Path(folder) / name for name in ("all", "fifth", "whole"))
        for path, images in ((root, count), (small, count // 5), (whole, whole_count)):
            write_jpegs(path, images)
        rows = speed_rows(small, rounds, Path(folder))
        whole_fit = whole_fit_ratio(whole, whole_recipe, Path(folder))
        # Two fresh training processes take minutes: the smoke size measures speed only.
        rss = [] if size == "smoke" else [peak_rss_mb(r, Path(folder)) for r in (small, root)]
    tables = [Table(["measure", "plain script", "tfmodel.train", "ours ÷ plain"], rows)]
    speed = float(rows[0][3])
    figures = [Figure("training examples/s, ours ÷ plain script", speed, "×", SPEED_GOAL)]
    name = f"whole 2-epoch fit of {whole_recipe.stem} on {whole_count} images, ours ÷ plain"
    figures.append(Figure(name, whole_fit, "×", WHOLE_FIT_GOAL))
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
