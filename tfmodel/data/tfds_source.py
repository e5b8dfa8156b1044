"""`tfds:NAME[:CONFIG]`: a TensorFlow Datasets dataset already prepared in a local data dir.

Nothing is downloaded here: TFDS preparation needs the internet and can take long, so it is a
separate, explicit step (`tfds build NAME --data_dir DIR`). The data dir is `data.data_dir`, else
`$TFDS_DATA_DIR`, else TFDS' default `~/tensorflow_datasets`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from tfmodel.data.source import SourceData
from tfmodel.errors import UserError, first_line

# Examples are read in batches of this many and stacked.
READ_BATCH = 4096


def load_tfds_source(spec: str, data_dir: str | None) -> SourceData:
    """The `train` split and, if the dataset has one, the `test` split, as (image, label) arrays."""
    source = f"tfds:{spec}"
    builder = open_tfds_builder(spec, data_dir)
    has_test = _has_test(builder)
    x_train, y_train = _read_split(builder, "train", source, data_dir)
    x_test, y_test = _read_split(builder, "test", source, data_dir) if has_test else (None, None)
    return SourceData(x_train, y_train, x_test, y_test, class_names(builder))


def open_tfds_builder(spec: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder of `NAME[:CONFIG]`, with (image, label) supervised keys."""
    name, _, config = spec.partition(":")
    full_name = f"{name}/{config}" if config else name
    source = f"tfds:{spec}"
    try:
        builder = tfds.builder(full_name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError) as err:
        raise UserError(
            f"data.source {source!r}: TFDS has no dataset {full_name!r} ({first_line(err)}); see "
            "https://www.tensorflow.org/datasets/catalog for names, e.g. tfds:mnist"
        ) from None
    info = builder.info
    if info.supervised_keys is None or len(info.supervised_keys) != 2:
        raise UserError(
            f"data.source {source!r}: the dataset has no (image, label) supervised keys, so its "
            "examples cannot be read as images and classes; pick an image classification dataset"
        )
    return builder


def has_mixed_sizes(builder: tfds.core.DatasetBuilder) -> bool:
    """True when the images have no fixed size (tf_flowers): they are streamed, not loaded."""
    return None in builder.info.features[builder.info.supervised_keys[0]].shape


def check_prepared(builder: tfds.core.DatasetBuilder, source: str, data_dir: str | None) -> bool:
    """Whether the dataset has a test split; a UserError saying how to prepare it if it is not."""
    if not builder.is_prepared():
        raise UserError(_not_prepared(builder.name, source, data_dir))
    return _has_test(builder)


def _has_test(builder: tfds.core.DatasetBuilder) -> bool:
    # A prepared dataset lists its splits; with no split metadata, ask for 'test' and let TFDS say.
    return not builder.info.splits or "test" in builder.info.splits


def class_names(builder: tfds.core.DatasetBuilder) -> list[str] | None:
    label = builder.info.features[builder.info.supervised_keys[1]]
    return list(label.names) if isinstance(label, tfds.features.ClassLabel) else None


def _read_split(
    builder: tfds.core.DatasetBuilder, split: str, source: str, data_dir: str | None
) -> tuple[np.ndarray, np.ndarray]:
    try:
        dataset = builder.as_dataset(split=split, as_supervised=True)
    except AssertionError:  # TFDS's way of saying the dataset was never prepared in data_dir.
        raise UserError(_not_prepared(builder.name, source, data_dir)) from None
    except ValueError as err:  # An unknown split, e.g. a dataset without 'train'.
        raise UserError(f"data.source {source!r}: cannot read split {split!r}: {err}") from None
    images, labels = [], []
    for image_batch, label_batch in tfds.as_numpy(dataset.batch(READ_BATCH)):
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise UserError(f"data.source {source!r}: split {split!r} holds no examples")
    return np.concatenate(images), np.concatenate(labels)


def _not_prepared(name: str, source: str, data_dir: str | None) -> str:
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    dataset = source.removeprefix("tfds:").replace(":", "/")
    return (
        f"data.source {source!r}: TFDS dataset {name!r} is not prepared in {where} and this "
        f"command does not download it. On a machine with internet run `tfds build {dataset} "
        f'--data_dir DIR` (the tfds CLI needs apache-beam; without it: python -c "import '
        f"tensorflow_datasets as tfds; tfds.builder('{dataset}', data_dir='DIR')"
        '.download_and_prepare()"), copy DIR here and pass --set data.data_dir=DIR '
        "(or set TFDS_DATA_DIR=DIR)"
    )
