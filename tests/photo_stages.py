"""A tiny photo-folder run for the stages after training, and the reference they are held to.

`make_photo_run` trains configs/photos_cnn.yaml at 16×16 on a few generated photos (tests/photos.py)
with `forbid_whole_splits` in force: `StreamedSplits.x_train/x_val/x_test` (each decodes a whole
split) fail when read, so training, its export, confusion matrix and card must stream. The test
split decoded whole (`decoded_test`) is the reference: a streamed stage's output equals what
that array gives. tests/conftest.py shares the run as the `photo_run` fixture and the refusal as
`no_whole_splits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from photos import write_photo_folder

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "photos_cnn.yaml"
WARMUP_RECORDS = 3


class PhotoRun(NamedTuple):
    photos: Path  # the folder of class sub-folders
    overrides: list[str]  # the `--set` keys over CONFIG it trained with
    run_dir: Path


class DecodedTest(NamedTuple):
    """A run's splits (streamed), its test images decoded whole (float32), and its model."""

    splits: object
    images: np.ndarray
    model: object
    config: object


def forbid_whole_splits(patch) -> None:
    """Make reading StreamedSplits' whole-split arrays fail (`patch`: a pytest MonkeyPatch)."""
    from tfmodel.data import StreamedSplits

    def refuse(self):
        raise AssertionError("a stage decoded a whole split (StreamedSplits.x_*)")

    for name in ("x_train", "x_val", "x_test"):
        patch.setattr(StreamedSplits, name, property(refuse), raising=False)


def make_photo_run(folder: Path, patch) -> PhotoRun:
    """12 photos per class, 1 epoch of a 4-filter convnet at 16×16, exported with
    WARMUP_RECORDS warm-up records, trained with whole splits forbidden."""
    from tfmodel.config import load_config
    from tfmodel.train import train

    photos = folder / "photos"
    write_photo_folder(photos, per_class=12)
    overrides = [
        f"data.source=images:{photos}",
        "data.image_size=[16,16]",
        "data.test_split=0.3",
        "data.batch_size=8",
        "model.filters=[4]",
        "model.hidden_units=[8]",
        "training.epochs=1",
        "training.verbose=0",
        f"export.warmup_records={WARMUP_RECORDS}",
        f"output.dir={folder / 'runs'}",
    ]
    forbid_whole_splits(patch)
    result = train(load_config(CONFIG, overrides))
    return PhotoRun(photos, overrides, result.run_dir)


def decoded_test(run_dir: Path) -> DecodedTest:
    """The run's data as its config loads it, its test split decoded whole, its saved model."""
    from tfmodel import runs
    from tfmodel.data import load_splits
    from tfmodel.data.streaming import decode_all

    config, model = runs.load_run(run_dir)
    splits = load_splits(config.data, config.training.seed)
    images = decode_all(splits.test, splits.recipe).astype(np.float32)
    return DecodedTest(splits, images, model, config)


def predicted_classes(reference: DecodedTest) -> np.ndarray:
    """The saved model's classes for the whole decoded test split, in one call."""
    return reference.model.predict(reference.images, verbose=0).argmax(axis=1)


def warmup_bytes(reference: DecodedTest, model_name: str, folder: Path) -> bytes:
    """The warm-up file an export of this run gives from the first test images, decoded whole."""
    from tfmodel.export import saved_model

    first = reference.images[:WARMUP_RECORDS]
    input_name = reference.config.model.input_name
    saved_model.write_warmup_requests(folder, model_name, input_name, first)
    return (folder / saved_model.WARMUP_FILE).read_bytes()
