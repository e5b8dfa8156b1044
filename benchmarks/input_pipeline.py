"""Image-folder input: images/s decoded and resized to 96×96, ours ÷ Keras' own folder reader.

Generated JPEGs (48–320 px a side, two classes). Ours: `images:DIR` (`build_file_dataset`, one
iterator for all epochs, as training reads it), its listing (every header read) timed apart;
Keras': `image_dataset_from_directory(...).prefetch`. Cold: the first epoch from the files; cached:
an epoch once decoded (ours `data.cache: memory`; theirs `.cache()` after a filling epoch).
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.harness import alternate
from benchmarks.results import Figure, Result, Table
from tfmodel.backend import keras, tf
from tfmodel.config import DataConfig
from tfmodel.data import batches_per_epoch, build_file_dataset, load_splits

SIZES = {"smoke": (40, 1), "quick": (600, 3), "full": (5000, 3)}  # images, rounds
IMAGE_SIZE = (96, 96)
BATCH = 32
GOAL = 1.0  # ours ÷ Keras images/s, cold and cached


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


def batches_seconds(iterator, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return time.perf_counter() - start


def ours(root: Path, cache: str) -> tuple[float, float]:
    """(listing s, epoch s) of `images:root`: cold the first epoch, cached the second (filled)."""
    start = time.perf_counter()
    folder = DataConfig(f"images:{root}", validation_split=0.0, test_split=0.0)
    folder.image_size = list(IMAGE_SIZE)
    splits = load_splits(folder, seed=0)
    listing = time.perf_counter() - start
    epoch = tf.Variable(0, dtype=tf.int64)
    options = dict(seed=0, epoch=epoch, repeat=True, cache=cache)
    iterator = iter(build_file_dataset(splits.train, splits.recipe, BATCH, **options))
    steps = batches_per_epoch(len(splits.train), BATCH, drop_remainder=False)
    first = batches_seconds(iterator, steps)
    return listing, first if cache == "none" else batches_seconds(iterator, steps)


def theirs(root: Path, cached: bool) -> float:
    """Seconds for one epoch of Keras' reader (after a filling epoch when cached)."""
    options = dict(image_size=IMAGE_SIZE, batch_size=BATCH, seed=0)
    dataset = keras.utils.image_dataset_from_directory(root, **options)
    dataset = dataset.cache() if cached else dataset
    for _epoch in range(2 if cached else 1):  # cached: the epoch after a filling one
        start = time.perf_counter()
        for _ in dataset.prefetch(tf.data.AUTOTUNE):
            pass
    return time.perf_counter() - start


def run(size: str = "full") -> Result:
    count, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_jpegs(root, count)
        sides = {
            "ours cold": lambda: ours(root, "none"),
            "Keras cold": lambda: (0.0, theirs(root, cached=False)),
            "ours cached": lambda: ours(root, "memory"),
            "Keras cached": lambda: (0.0, theirs(root, cached=True)),
        }
        samples = alternate(sides, rounds, warmup=0)
    # each turn returns (listing seconds, epoch seconds)
    rate = {k: count / np.median([v[1] for v in s.values]) for k, s in samples.items()}
    listing = count / np.median([v[0] for v in samples["ours cold"].values])
    rows, figures = [], []
    for kind in ("cold", "cached"):
        our_rate, keras_rate = rate[f"ours {kind}"], rate[f"Keras {kind}"]
        rows.append([kind, f"{our_rate:.0f}", f"{keras_rate:.0f}", f"{our_rate / keras_rate:.2f}"])
        figures.append(Figure(f"{kind} images/s, ours ÷ Keras", our_rate / keras_rate, "×", GOAL))
    rows.append(["listing + bad-file check (ours only)", f"{listing:.0f}", "–", "–"])
    columns = ["epoch", "ours images/s", "Keras images/s", "ours ÷ Keras"]
    method = f"{count} generated JPEGs, batch {BATCH}, medians of {rounds} round(s) in turns."
    title = "Input pipeline: an image folder decoded and resized to 96×96"
    return Result("input_pipeline", title, method, [Table(columns, rows)], figures)
