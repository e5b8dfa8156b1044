"""What an image-folder run writes about its data: the split of every file, and augment samples.

`split.csv` (path, class, split) and `split.json` (counts per class and split, skipped bad files,
files left out as not images by name) let a run be audited and repeated; `augment.png` shows what
augmentation does to training images.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tfmodel.data.images import EXTENSIONS, FolderListing
from tfmodel.data.streaming import StreamedSplits
from tfmodel.files import write_text_atomically

SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
NAMES_SHOWN = 5  # files not images by name that the one-line notice names


def write_split_record(splits: StreamedSplits, csv_path: Path, json_path: Path) -> None:
    """Every file with its class and split (csv) and the counts and skipped files (json)."""
    root = splits.listing.root
    counts = {name: {split: 0 for split in SPLIT_NAMES.values()} for name in splits.class_names}
    with open(csv_path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "class", "split"])
        for attribute, split in SPLIT_NAMES.items():
            part = getattr(splits, attribute)
            for path, label in zip(part.paths, part.labels, strict=True):
                name = splits.class_names[label]
                writer.writerow([Path(path).relative_to(root).as_posix(), name, split])
                counts[name][split] += 1
    summary = {
        "root": str(root),
        "counts": counts,
        "skipped": [{"path": bad.path, "problem": bad.problem} for bad in splits.listing.skipped],
        "not_images": splits.listing.not_images,
    }
    write_text_atomically(json_path, json.dumps(summary, indent=2) + "\n")


def describe_not_images(listing: FolderListing) -> str | None:
    """One line naming how many files were left out as not images by name, and a few of them;
    None when there were none."""
    names = listing.not_images
    if not names:
        return None
    shown = ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")
    return (
        f"left out {len(names)} file(s) that are not images by name (images end in "
        f"{' '.join(EXTENSIONS)}): {shown}"
    )


def plot_augmented(images: np.ndarray, png: Path, columns: int = 8) -> None:
    """A grid of 0..255 images (N, H, W, C) saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.2), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, image in zip(axes.ravel(), images, strict=False):
        grey = image.shape[-1] == 1
        pixels = image[..., 0] if grey else image.astype(np.uint8)
        axis.imshow(pixels, cmap="gray" if grey else None, vmin=0, vmax=255)
    figure.suptitle("augmented training images")
    figure.savefig(png, dpi=80)
    plt.close(figure)
