"""Image-folder input: images/s decoded and resized to 96×96, ours ÷ Keras' own folder reader.

    python -m benchmarks.input_pipeline           # 5,000 JPEGs, a few minutes on 2 cores;
                                                  # rewrites its section of benchmarks/RESULTS.md
    python -m benchmarks.input_pipeline --quick   # 600 JPEGs; prints only

The folder is generated into a temporary directory: JPEGs of mixed sizes (48–320 px a side) in
two classes. Ours is `images:DIR` (`tfmodel.data.streaming.build_file_dataset`, batch 32, seeded
epoch order, read as training reads it: one iterator going on epoch after epoch); theirs
`keras.utils.image_dataset_from_directory(DIR, image_size=(96, 96)).prefetch(AUTOTUNE)`. Cold:
the first epoch read from the files, iterator start included (the listing timed apart: ours
opens every file's header to find bad files and EXIF tags). Cached: an epoch once everything
is decoded (ours `data.cache: memory`, its second epoch; theirs `.cache()` after a filling
epoch). The sides take turns, medians of the rounds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from tfmodel.backend import keras, tf
from tfmodel.config import DataConfig
from tfmodel.data import batches_per_epoch, build_file_dataset, load_splits

SECTION = "## Input pipeline: an image folder decoded and resized to 96×96"
SIZES = {"smoke": (40, 1), "quick": (600, 3), "full": (5000, 3)}  # images, rounds
IMAGE_SIZE = (96, 96)
BATCH = 32
COLD_WHY = (
    "per image ours also rounds to whole values (so a cached image equals a decoded one) and, "
    "when any file has an EXIF orientation, turns it; the rest is Keras' per-file parallel map"
)
CACHED_WHY = (
    "the two do different work: Keras' .cache() after its shuffle replays the first epoch's "
    "float32 batches in that same order every epoch, no copy; ours draws a new permutation each "
    "epoch (exact on resume), so each batch is a gather of 32 uint8 images and a cast to "
    "float32. In one process on 5,000 cached 96x96 images (loaded machine): replaying cached "
    "batches 57k images/s, our gather alone 26k/s, gather and cast 13k/s. Closing it: yield uint8 "
    "and cast in the model's first layer (about 0.5x), or a fixed-order cache (no reshuffling)"
)


def write_jpegs(root: Path, count: int) -> None:
    """`count` JPEGs of mixed sizes, half in each of two class folders."""
    rng = np.random.default_rng(0)
    for index in range(count):
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        width, height = (int(v) for v in rng.integers(48, 320, size=2))
        image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 255, 3)))
        ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, height // 2), "red")
        image.save(folder / f"{index:05d}.jpg", quality=90)


def epoch_seconds(dataset: tf.data.Dataset) -> float:
    start = time.perf_counter()
    for _ in dataset:
        pass
    return time.perf_counter() - start


def batches_seconds(iterator, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return time.perf_counter() - start


def ours(root: Path, cache: str) -> tuple[float, float]:
    """(listing seconds, epoch seconds) for `images:root` with `cache`, read as training reads
    it: one iterator going on epoch after epoch. Cold, the first epoch is timed (with the
    iterator's start); cached, the second (the cache is filled when the dataset is built)."""
    start = time.perf_counter()
    config = DataConfig(
        source=f"images:{root}", image_size=list(IMAGE_SIZE), test_split=0.0, validation_split=0.0
    )
    splits = load_splits(config, seed=0)
    listing = time.perf_counter() - start
    dataset = build_file_dataset(
        splits.train,
        splits.recipe,
        BATCH,
        seed=0,
        epoch=tf.Variable(0, dtype=tf.int64),
        repeat=True,
        cache=cache,
    )
    steps = batches_per_epoch(len(splits.train), BATCH, drop_remainder=False)
    iterator = iter(dataset)
    first = batches_seconds(iterator, steps)
    return listing, first if cache == "none" else batches_seconds(iterator, steps)


def theirs(root: Path, cached: bool) -> float:
    """Seconds for one epoch of Keras' reader (after a filling epoch when cached)."""
    dataset = keras.utils.image_dataset_from_directory(
        root, image_size=IMAGE_SIZE, batch_size=BATCH, seed=0
    )
    if cached:
        dataset = dataset.cache()
        epoch_seconds(dataset.prefetch(tf.data.AUTOTUNE))
    return epoch_seconds(dataset.prefetch(tf.data.AUTOTUNE))


def run(size: str = "full") -> Section:
    check_size(size)
    count, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_jpegs(root, count)
        times: dict[str, list[float]] = {k: [] for k in ("listing", "ours", "ours_cached")}
        times.update(theirs=[], theirs_cached=[])
        for _ in range(rounds):
            listing, cold = ours(root, "none")
            times["listing"].append(listing)
            times["ours"].append(cold)
            times["theirs"].append(theirs(root, cached=False))
            times["ours_cached"].append(ours(root, "memory")[1])
            times["theirs_cached"].append(theirs(root, cached=True))
    median = {key: statistics.median(values) for key, values in times.items()}
    rate = {key: count / seconds for key, seconds in median.items()}
    rows = [
        [
            "cold (from the files)",
            f"{rate['ours']:.0f}",
            f"{rate['theirs']:.0f}",
            f"{rate['ours'] / rate['theirs']:.2f} ×",
        ],
        [
            "cached (decoded once)",
            f"{rate['ours_cached']:.0f}",
            f"{rate['theirs_cached']:.0f}",
            f"{rate['ours_cached'] / rate['theirs_cached']:.2f} ×",
        ],
        ["listing + bad-file check (ours only)", f"{rate['listing']:.0f}", "–", "–"],
    ]
    table = markdown_table(["epoch", "ours images/s", "Keras images/s", "ours ÷ Keras"], rows)
    cold = rate["ours"] / rate["theirs"]
    cached = rate["ours_cached"] / rate["theirs_cached"]
    figures = [
        Figure("input_pipeline", "cold images/s, ours ÷ Keras", cold, "×", 1.0, why=COLD_WHY),
        Figure("input_pipeline", "cached images/s, ours ÷ Keras", cached, "×", 1.0, why=CACHED_WHY),
    ]
    text = section_text(
        SECTION,
        f"`python -m benchmarks.input_pipeline` — {count} generated JPEGs (48–320 px a side, 2 "
        f"classes), batch 32, medians of {rounds} rounds taken in turns.",
        table,
    )
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("input_pipeline", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
