"""Training on an image folder: examples/s of `tfmodel.train`'s fit ÷ the plain Keras script, for
photos_cnn.yaml's convnet (tf_keras) and Keras 3's `keras.applications.MobileNetV2` α 0.35 from a
`model.builder`; peak RSS of `python -m tfmodel.train` on a fifth of the folder and on all of it.

`input_pipeline`'s JPEGs at 96×96, no augmentation, Adam, a tenth held out. Plain, in the model's
Keras: `image_dataset_from_directory(..., subset="both")`, `model.fit`; ours: `training_speed`'s.
A round is a fit on a fifth of the folder whose last epoch is timed as `training_speed` times them:
the convnet's one, Keras 3's second (steady state). Memory: the convnet's command, one epoch.
"""

import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from benchmarks.harness import alternate
from benchmarks.input_pipeline import IMAGE_SIZE, write_jpegs
from benchmarks.results import Figure, Result, Table
from benchmarks.run import main_one
from benchmarks.training_speed import REPO, Side, new_model, our_side
from tfmodel import data
from tfmodel.backend import tf
from tfmodel.config import Config, load_config
from tfmodel.keras3 import keras as keras3
from tfmodel.models.model_keras import keras_of

RECIPE = REPO / "configs" / "photos_cnn.yaml"
SIZES = {"smoke": (100, 1), "quick": (1000, 2), "full": (5000, 3)}  # images, timed rounds a side
SPEED_GOAL, KERAS3_GOAL, RSS_GOAL_MB = 1.0, 0.95, 200.0
PEAK_RSS = (  # the command in a fresh process; prints its peak RSS in kB (VmHWM: since its exec)
    "import runpy, sys\nsys.argv = ['tfmodel.train', *sys.argv[1:]]\ntry:\n"
    "    runpy.run_module('tfmodel.train', run_name='__main__')\nfinally:\n"
    "    print('peak_rss_kb', open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
)
OVERRIDES = ["data.image_size=[96,96]", "data.augment=[]", "training.epochs=1"]
KERAS3 = "Keras 3 MobileNetV2"
KERAS3_SET = ["model.builder=benchmarks.training_photos:keras3_mobilenet", "edge.enabled=false"]
WORKLOADS = {"convnet": [], KERAS3: [*KERAS3_SET, "training.epochs=2"]}  # their overrides


def keras3_mobilenet(input_shape: tuple, num_classes: int) -> object:
    """The Keras 3 workload's `model.builder`: keras.applications' MobileNetV2 α 0.35, logits."""
    options = dict(weights=None, classes=num_classes, classifier_activation=None)
    return keras3.applications.MobileNetV2(input_shape, alpha=0.35, **options)


def plain_side(config: Config, root: Path, splits) -> tuple[Side, int]:
    """`image_dataset_from_directory` + the same model + `model.fit`; its training examples."""
    model = new_model(config, splits)
    keras = keras_of(model).keras
    options = dict(batch_size=config.data.batch_size, seed=config.training.seed)
    train, val = keras.utils.image_dataset_from_directory(
        root, image_size=IMAGE_SIZE, validation_split=0.1, subset="both", **options
    )
    examples = len(train.file_paths)
    train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(config.optimizer.learning_rate), loss, metrics=["accuracy"])

    def fit(callbacks: list = ()) -> None:
        epochs, callbacks = config.training.epochs, list(callbacks)
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=callbacks)

    return Side(model, fit), examples


def speed_rows(root: Path, rounds: int, workload: str) -> list[list[str]]:
    """Training examples/s of each side, by wall and by CPU time, medians of the rounds."""
    overrides = [f"data.source=images:{root}", *OVERRIDES, "data.test_split=0.0"]
    overrides += WORKLOADS[workload]
    config = load_config(RECIPE, [*overrides, "data.validation_split=0.1", "training.verbose=0"])
    splits = data.load_splits(config.data, config.training.seed)
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_examples = plain_side(config, root, splits)
        sides = {"plain": plain, "ours": our_side(config, splits, Path(tmp))}
        last = config.training.epochs - 1  # a round's last epoch is timed, after a warm-up round
        samples = alternate({k: partial(s.timed_round, last) for k, s in sides.items()}, rounds)
    examples = {"plain": plain_examples, "ours": len(splits.y_train)}
    rows = []
    for clock in ("wall", "cpu"):
        rate = [examples[k] / samples[k].median_of(clock) for k in ("plain", "ours")]
        name = f"{workload}: training examples/s ({clock})"
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
        rows = [speed_rows(small, rounds, name) for name in WORKLOADS]
        # Two fresh training processes take minutes: the smoke size measures speed only.
        rss = [] if size == "smoke" else [peak_rss_mb(r, Path(folder)) for r in (small, root)]
    tables = [Table(["measure", "plain script", "tfmodel.train", "ours ÷ plain"], sum(rows, []))]
    measure, speed = "training examples/s{}, ours ÷ plain script", float(rows[1][1][3])
    figures = [Figure(measure.format(""), float(rows[0][0][3]), "×", SPEED_GOAL)]  # wall time
    figures.append(Figure(measure.format(f" of {KERAS3} (CPU)"), speed, "×", KERAS3_GOAL))
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
