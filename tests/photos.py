"""A small folder of generated photos for tests: shapes on backgrounds, in class sub-folders,
of mixed sizes, formats (JPEG, PNG, BMP, GIF, WebP) and modes (colour and grey)."""

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
