"""`images:DIR`: image files sorted into one sub-folder per class, read with Pillow.

The class names are the sorted folder names. Grayscale images keep one channel; if any image has
colour, all are read as RGB. Every image must have the same width and height.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tfmodel.data.source import SourceData
from tfmodel.errors import UserError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
GRAYSCALE_MODES = {"1", "L", "LA"}


def load_images_source(directory: str, data_dir: str | None) -> SourceData:
    """All images under `directory`/<class>/, labelled by the class folder's sorted position."""
    del data_dir  # The directory is named in the source.
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise UserError(
            f"data.source 'images:{directory}': no such folder; give a folder with one "
            "sub-folder of images per class (e.g. DIR/cat/1.png, DIR/dog/2.png)"
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserError(
            f"data.source 'images:{directory}' has no class sub-folders; put each class's "
            "images in its own folder (e.g. DIR/cat/1.png, DIR/dog/2.png)"
        )
    files, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in EXTENSIONS)
        if not found:
            raise UserError(
                f"data.source 'images:{directory}': class folder {class_dir} holds no images "
                f"({', '.join(sorted(EXTENSIONS))}); add some or remove the folder"
            )
        files += found
        labels += [label] * len(found)
    mode = _common_mode(files)
    pixels = np.stack([_read(path, mode) for path in files])
    return SourceData(
        x_train=pixels,
        y_train=np.array(labels, dtype=np.int64),
        class_names=[d.name for d in class_dirs],
    )


def _common_mode(files: list[Path]) -> str:
    """'L' when every image is grayscale, else 'RGB'; checks all share the first image's size.

    Pillow reads only the header on open, so this pass is cheap.
    """
    modes = set()
    for path in files:
        try:
            with Image.open(path) as image:
                size, mode = image.size, image.mode
        except OSError as err:
            raise UserError(f"image {path} cannot be read: {err}; remove or replace it") from None
        if path is files[0]:
            first_size = size
        elif size != first_size:
            raise UserError(
                f"image {path} is {size[0]}x{size[1]} but {files[0]} is "
                f"{first_size[0]}x{first_size[1]}; resize all images to one size"
            )
        modes.add(mode)
    return "L" if modes <= GRAYSCALE_MODES else "RGB"


def _read(path: Path, mode: str) -> np.ndarray:
    """One image as uint8 (H, W, C)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels
