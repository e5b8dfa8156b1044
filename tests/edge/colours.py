"""Generated colour pictures for the tests that need an image model with metadata (MediaPipe, the
browser page): 32×32 RGB noise, class k brightest in channel k (importable as `colours`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = ["red", "green", "blue"]


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 32×32 RGB images, class k brightest in channel k; whole raw pixels 0..255."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(COLOURS), count)
    x = rng.integers(0, 140, size=(count, 32, 32, 3)).astype(np.float32)
    x[np.arange(count), :, :, y] += rng.integers(60, 116, size=(count, 1, 1)).astype(np.float32)
    return x, y.astype(np.int64)


def save_pngs(pixels: np.ndarray, folder: Path) -> list[Path]:
    """Each image of `pixels` (whole values 0..255) as folder/<i>.png; the paths in order."""
    paths = [folder / f"{i}.png" for i in range(len(pixels))]
    for path, image in zip(paths, pixels, strict=True):
        Image.fromarray(image.astype(np.uint8)).save(path)
    return paths
