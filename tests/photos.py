"""Generated images for tests: a small folder of photos (shapes on backgrounds, in class
sub-folders, of mixed sizes, formats (JPEG, PNG, BMP, GIF, WebP) and modes), and an `.npz` of
equal-sized arrays whose classes a tiny network learns in a few steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FORMATS = (("jpg", "JPEG"), ("png", "PNG"), ("bmp", "BMP"), ("gif", "GIF"), ("webp", "WEBP"))
# Class name → (background, shape colour); "bright" and "dark" stay apart in grey too.
CLASSES = {"bright": ((230, 220, 200), (255, 60, 60)), "dark": ((30, 20, 40), (40, 40, 200))}


def make_photo(rng: np.random.Generator, name: str) -> Image.Image:
    """One image of class `name`: a random-sized canvas with a square or a circle on it."""
    background, colour = CLASSES[name]
    width, height = (int(v) for v in rng.integers(24, 80, size=2))
    image = Image.new("RGB", (width, height), background)
    box = sorted(rng.integers(0, width, 2).tolist()) + sorted(rng.integers(0, height, 2).tolist())
    x0, x1, y0, y1 = box
    shape = ImageDraw.Draw(image).ellipse if rng.random() < 0.5 else ImageDraw.Draw(image).rectangle
    shape((x0, y0, max(x1, x0 + 4), max(y1, y0 + 4)), fill=colour)
    return image


def write_photo_folder(root: Path, per_class: int, seed: int = 0, start: int = 0) -> list[Path]:
    """`per_class` images per class in root/<class>/ (formats and grey/colour rotating), named
    from `start` on so a second call adds new files; returns the files written."""
    rng = np.random.default_rng(seed)
    written = []
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(start, start + per_class):
            suffix, kind = FORMATS[index % len(FORMATS)]
            image = make_photo(rng, name)
            if index % 3 == 1:
                image = image.convert("L")
            path = root / name / f"img_{index:04d}.{suffix}"
            image.save(path, kind)
            written.append(path)
    return written


def generated_images(path: Path, channels: int, size: int, classes: int, per_class: int) -> str:
    """An `.npz` source (half train, half test) of `size`×`size` images: class k's are brightest
    in channel k (colour) or in horizontal band k (grey); returns its `data.source`."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(classes), per_class)
    x = rng.uniform(0, 90, (len(y), size, size, channels))
    for i, label in enumerate(y):
        if channels == 3:
            x[i, ..., label] += 150
        else:
            x[i, label * size // classes : (label + 1) * size // classes] += 150
    order = rng.permutation(len(y))
    x, y = x[order].astype(np.uint8), y[order]
    n_test = len(y) // 2
    np.savez(path, x_train=x[n_test:], y_train=y[n_test:], x_test=x[:n_test], y_test=y[:n_test])
    return f"npz:{path}"


# A user's own model file for `model.builder` (FILE.py:small_convnet): a conv, a depthwise
# conv and a Dense head, so pruning, QAT and the edge converter each meet those layers.
SMALL_CONVNET = """
from tfmodel.backend import keras


def small_convnet(input_shape, num_classes):
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv0")(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))
"""
