"""Training on an image folder: examples/s of `tfmodel.train`'s fit ÷ the plain Keras script, and
peak RSS of `python -m tfmodel.train` from 1,000 to 5,000 images.

    python -m benchmarks.training_photos           # 5,000 JPEGs at 96×96, ~10 min on 2 cores;
                                                   # rewrites its section of benchmarks/RESULTS.md
    python -m benchmarks.training_photos --quick   # 1,000 JPEGs; prints only

The folder is `benchmarks.input_pipeline`'s (generated JPEGs of mixed sizes, two classes). Both
sides train the reference recipe's convnet (configs/photos_cnn.yaml, at 96×96, no augmentation,
as the plain script has none) in batches of 32, with Adam at the recipe's rate, holding out a
tenth for validation. The plain script is what a user writes:
`keras.utils.image_dataset_from_directory(DIR, image_size=(96, 96), validation_split=0.1,
subset="both")`, `.prefetch(AUTOTUNE)`, `model.fit(train, validation_data=val)`. Ours is the fit
`tfmodel.train` runs (`fit_data`: the streamed folder with the epoch order exact on resume,
`compile_for_training`, its callbacks). A round is one epoch (timed as `training_speed` times
them: the epoch and its callbacks, not fit's own start and end); after a warm-up round the sides
alternate; speed is timed on the first 1/5 of the folder. Memory: `python -m tfmodel.train`
in a fresh process on the first 1/5 of the folder, then on all of it (one epoch each), peak RSS
from the process itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.input_pipeline import write_jpegs
from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from benchmarks.training_speed import REPO, Side, new_model, our_side
from tfmodel import data
from tfmodel.backend import keras, tf
from tfmodel.config import Config, load_config

SECTION = "## Training on an image folder: tfmodel.train vs the plain Keras script"
SIZES = {"smoke": (100, 1), "quick": (1000, 2), "full": (5000, 3)}  # images, timed rounds a side
BATCH = 32
RSS_GOAL_MB = 200.0
SPEED_WHY = (
    "CPU time per example is equal (1.00x); wall time on a machine shared with other jobs "
    "swings by more than the gap. Ours also runs its callbacks (exact backup, best checkpoint, "
    "TensorBoard, history CSV) every epoch"
)
RSS_WHY = (
    "not yet broken down, and it varies run to run (118 MB and 276 MB in two runs); grows with "
    "the folder: x_test decoded to float32 for the model card (55 MB at 500 test images), the "
    "listing's per-file objects, tf.data's autotuned buffers"
)
# Peak RSS of the command in a fresh process, printed in kB (Linux' ru_maxrss unit).
PEAK_RSS = (
    "import resource, runpy, sys\n"
    "sys.argv = ['tfmodel.train', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('tfmodel.train', run_name='__main__')\n"
    "finally:\n"
    "    print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def recipe(root: Path) -> Config:
    """configs/photos_cnn.yaml on `root` at 96×96, one epoch, no augmentation, quiet."""
    config = load_config(REPO / "configs" / "photos_cnn.yaml")
    config.data.source = f"images:{root}"
    config.data.image_size = [96, 96]
    config.data.augment = []
    config.data.test_split = 0.0
    config.data.validation_split = 0.1
    config.data.batch_size = BATCH
    config.training.epochs = 1
    config.training.verbose = 0
    return config


def plain_side(config: Config, root: Path, splits) -> tuple[Side, int]:
    """`image_dataset_from_directory` + the same model + `model.fit`: what a user writes; and
    how many training examples it has."""
    train, val = keras.utils.image_dataset_from_directory(
        root,
        image_size=(96, 96),
        batch_size=BATCH,
        validation_split=0.1,
        subset="both",
        seed=config.training.seed,
    )
    examples = len(train.file_paths)
    train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
    model = new_model(config, splits)
    model.compile(
        keras.optimizers.Adam(config.optimizer.learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
    )

    def fit(clocks: list = ()) -> None:
        model.fit(train, validation_data=val, epochs=1, verbose=0, callbacks=list(clocks))

    return Side(model, fit), examples


def examples_per_second(root: Path, rounds: int) -> tuple[float, float, float, float]:
    """(plain, ours) training examples/s by wall time, and by CPU time, medians of rounds."""
    config = recipe(root)
    splits = data.load_splits(config.data, config.training.seed)
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_examples = plain_side(config, root, splits)
        sides = {"plain": plain, "ours": our_side(config, splits, Path(tmp))}
        for side in sides.values():
            side.fit_round()  # warm-up: tracing, first file reads
        for i in range(rounds):
            for key in ("plain", "ours") if i % 2 == 0 else ("ours", "plain"):
                sides[key].timed_round()
    examples = {"plain": plain_examples, "ours": len(splits.y_train)}
    wall = [examples[k] / statistics.median(sides[k].wall) for k in ("plain", "ours")]
    cpu = [examples[k] / statistics.median(sides[k].cpu) for k in ("plain", "ours")]
    return wall[0], wall[1], cpu[0], cpu[1]


def peak_rss_mb(root: Path, output: Path) -> float:
    """Peak RSS of `python -m tfmodel.train` training one epoch on `root`, in MB."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    args = ["--config", str(REPO / "configs" / "photos_cnn.yaml"), "--epochs", "1"]
    args += ["--output", str(output), "--no-resume", "--set", f"data.source=images:{root}"]
    args += ["--set", "data.image_size=[96,96]", "--set", "data.augment=[]"]
    args += ["--set", "export.enabled=false"]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=output,
        timeout=1800,
    )
    line = [row for row in done.stdout.splitlines() if row.startswith("peak_rss_kb")][-1]
    return int(line.split()[1]) / 1024


def run(size: str = "full") -> Section:
    check_size(size)
    count, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as folder:
        root, small = Path(folder) / "all", Path(folder) / "fifth"
        write_jpegs(root, count)
        write_jpegs(small, count // 5)
        # Speed on the fifth (an epoch of a convnet on 5,000 photos takes minutes on 2 shared
        # cores); memory on both.
        plain, ours, plain_cpu, ours_cpu = examples_per_second(small, rounds)
        (Path(folder) / "runs").mkdir()
        # Two fresh training processes take minutes; the smoke test checks the speed side only.
        rss = (
            [peak_rss_mb(r, Path(folder) / "runs") for r in (small, root)]
            if size != "smoke"
            else []
        )
    rows = [
        ["training examples/s (wall)", f"{plain:.0f}", f"{ours:.0f}", f"{ours / plain:.2f} ×"],
        [
            "training examples/s (CPU)",
            f"{plain_cpu:.0f}",
            f"{ours_cpu:.0f}",
            f"{ours_cpu / plain_cpu:.2f} ×",
        ],
    ]
    table = markdown_table(["measure", "plain script", "tfmodel.train", "ours ÷ plain"], rows)
    figures = [
        Figure(
            "photos",
            "training examples/s, ours ÷ plain script",
            ours / plain,
            "×",
            1.0,
            why=SPEED_WHY,
        ),
    ]
    memory = []
    if rss:
        growth = rss[1] - rss[0]
        rss_rows = [[f"{count // 5}", f"{rss[0]:.0f} MB"], [f"{count}", f"{rss[1]:.0f} MB"]]
        memory = [
            f"Peak RSS, one epoch in a fresh process (grows {growth:.0f} MB from {count // 5} to "
            f"{count} images; goal < {RSS_GOAL_MB:.0f} MB):",
            markdown_table(["images", "peak RSS of python -m tfmodel.train"], rss_rows),
        ]
        measure = f"peak RSS growth, {count // 5} → {count} images"
        figures.append(
            Figure("photos", measure, max(growth, 0.1), "MB", RSS_GOAL_MB, False, RSS_WHY)
        )
    text = section_text(
        SECTION,
        f"`python -m benchmarks.training_photos` — {count} generated JPEGs (48–320 px a side, "
        f"2 classes; speed on {count // 5} of them) at 96×96, configs/photos_cnn.yaml's "
        f"convnet without augmentation, batch {BATCH}, a tenth held out for validation; "
        f"{rounds} timed one-epoch rounds a side after a warm-up, alternating, medians.",
        table,
        *memory,
    )
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("training_photos", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
