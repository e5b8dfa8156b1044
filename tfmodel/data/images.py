"""`images:DIR`: image files in one sub-folder per class, listed here and streamed from disk.

Files are images by their extension (EXTENSIONS, as Keras' `image_dataset_from_directory`
lists them); any other file (`.DS_Store`, `Thumbs.db`, `desktop.ini`, `notes.txt`) is left out
and named in the run folder, whatever `data.on_bad_file` says. Listing opens every image's
header with Pillow (format, declared size, EXIF orientation) and decodes JPEGs at 1/8 scale, so
a file that cannot be read is found before training starts, not half way through it. What
counts as bad: an image file of zero bytes, not an image TensorFlow decodes, unreadable or
declaring more than MAX_PIXELS, or a class folder without images. `data.on_bad_file: error`
stops on the first one; `skip` leaves it out and lists it in the run folder.

Splits stay put: a file's split depends only on its path relative to DIR (the test split) and
that path plus the seed (validation), through a hash, so adding photos never moves old ones and
no test image is ever trained on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfmodel.data.decode import MAX_PIXELS
from tfmodel.errors import UserError

# Formats TensorFlow's decoders read (Pillow names); Pillow-only formats (TIFF…) are bad files.
FORMATS = {"JPEG", "PNG", "BMP", "GIF", "WEBP", "MPO"}  # MPO: a phone's JPEG with a depth map
# Keras' image_dataset_from_directory lists these (its ALLOWLIST_FORMATS), plus WebP, which
# TensorFlow's decoder reads too.
EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
EXIF_ORIENTATION = 0x0112
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class ImageFile:
    """One listed image: its path relative to the folder, class id and EXIF orientation."""

    path: str
    label: int
    orientation: int = 1


@dataclasses.dataclass(frozen=True)
class BadFile:
    path: str
    problem: str


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """Every good image of `root` in sorted order, the class names and what was left out:
    bad files (`skipped`) and files that are not images by name (`not_images`, relative paths)."""

    root: Path
    files: list[ImageFile]
    class_names: list[str]
    skipped: list[BadFile]
    not_images: list[str]


def list_image_folder(directory: str, on_bad_file: str = "error") -> FolderListing:
    """The images under `directory`/<class>/, labelled by the class folder's sorted position."""
    root = Path(directory).expanduser()
    source = f"data.source 'images:{directory}'"
    if not root.is_dir():
        raise UserError(
            f"{source}: no such folder; give a folder with one sub-folder of images per class "
            "(e.g. DIR/cat/1.jpg, DIR/dog/2.jpg)"
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserError(
            f"{source} has no class sub-folders; put each class's images in its own folder "
            "(e.g. DIR/cat/1.jpg, DIR/dog/2.jpg)"
        )
    files, skipped, class_names, not_images = [], [], [], []
    for class_dir in class_dirs:
        found, bad = [], []
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            if path.suffix.lower() not in EXTENSIONS:
                not_images.append(relative)
                continue
            problem, orientation = check_image_file(path)
            if problem:
                bad.append(BadFile(relative, problem))
            else:
                found.append(ImageFile(relative, len(class_names), orientation))
        if not found:
            bad.append(BadFile(class_dir.name + "/", "class folder holds no images"))
        for item in bad:
            if on_bad_file != "skip":
                raise UserError(
                    f"{source}: {root / item.path} {item.problem}; remove or replace it, or "
                    "pass --set data.on_bad_file=skip to train without it (listed in the run "
                    "folder)"
                )
            skipped.append(item)
        if found:
            files += found
            class_names.append(class_dir.name)
    if len(class_names) < 2:
        raise UserError(f"{source} has {len(class_names)} class with images; a classifier needs 2")
    return FolderListing(root, files, class_names, skipped, not_images)


def check_image_file(path: Path) -> tuple[str | None, int]:
    """(what is wrong with the image file or None, its EXIF orientation 1..8)."""
    if path.stat().st_size == 0:
        return "is empty (0 bytes)", 1
    try:
        with Image.open(path) as image:
            if image.format not in FORMATS:
                return f"is a {image.format} file, which TensorFlow cannot decode", 1
            width, height = image.size
            if width * height > MAX_PIXELS:
                return f"declares {width}x{height} pixels, more than {MAX_PIXELS}", 1
            orientation = int(image.getexif().get(EXIF_ORIENTATION, 1))
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # fast 1/8 decode
            image.load()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        return f"cannot be decoded ({err})", 1
    return None, orientation if 1 <= orientation <= 8 else 1


def assign_split(path: str, test_split: float, validation_split: float, seed: int) -> str:
    """`train`, `validation` or `test` for the file at `path` (relative, with '/').

    The test split hashes the path alone, so it never depends on the seed; validation hashes
    the path and the seed, among the files that are not test.
    """
    if _unit_hash(path) < test_split:
        return "test"
    return "validation" if _unit_hash(f"{seed}:{path}") < validation_split else "train"


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) from `text` (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_listing(
    listing: FolderListing, test_split: float, validation_split: float, seed: int
) -> dict[str, list[ImageFile]]:
    """The listing's files by split name, each in listing order."""
    parts: dict[str, list[ImageFile]] = {name: [] for name in SPLITS}
    for item in listing.files:
        parts[assign_split(item.path, test_split, validation_split, seed)].append(item)
    if not parts["train"]:
        raise UserError(
            f"data.source 'images:{listing.root}': no image fell in the training split; "
            "add images or lower data.test_split / data.validation_split"
        )
    return parts


def split_counts(parts: dict[str, list[ImageFile]], class_names: list[str]) -> np.ndarray:
    """Counts per (class, split) as an int array (classes × SPLITS)."""
    counts = np.zeros((len(class_names), len(SPLITS)), np.int64)
    for column, name in enumerate(SPLITS):
        for item in parts[name]:
            counts[item.label, column] += 1
    return counts
