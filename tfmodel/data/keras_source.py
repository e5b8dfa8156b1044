"""`keras:mnist|fashion_mnist|cifar10`: the datasets of `keras.datasets`, read from Keras' cache.

Keras keeps downloaded files in `~/.keras/datasets/` (or `<data.data_dir>/datasets/` when
`data.data_dir` is set) and downloads only what is missing, so an offline machine needs the file
copied there first.
"""

from __future__ import annotations

import dataclasses

from tfmodel.backend import keras
from tfmodel.data.source import SourceData
from tfmodel.errors import UserError


@dataclasses.dataclass(frozen=True)
class KerasDataset:
    """One dataset of `keras.datasets`: the files it downloads, where its cache keeps them, and
    what its labels mean."""

    urls: tuple[str, ...]
    cached_as: str
    class_names: tuple[str, ...]


KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DATASETS = {
    "mnist": KerasDataset(
        urls=(KERAS_URL + "mnist.npz",),
        cached_as="mnist.npz",
        class_names=tuple(str(digit) for digit in range(10)),
    ),
    "fashion_mnist": KerasDataset(
        urls=tuple(
            f"{KERAS_URL}{split}-{kind}-idx{dims}-ubyte.gz"
            for split in ("train", "t10k")
            for kind, dims in (("labels", 1), ("images", 3))
        ),
        cached_as="fashion-mnist/",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
    "cifar10": KerasDataset(
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        cached_as="cifar-10-batches-py.tar.gz",
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
    ),
}


def load_keras_source(name: str, data_dir: str | None) -> SourceData:
    """`keras.datasets.<name>.load_data()`, turning a failed download into a UserError."""
    if name not in DATASETS:
        raise UserError(
            f"data.source 'keras:{name}' is not available: use one of "
            f"{', '.join('keras:' + known for known in DATASETS)}"
        )
    dataset = DATASETS[name]
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data(
            cache_dir=data_dir
        )
    except Exception as err:  # Keras raises a bare Exception when a download fails.
        cache = f"{data_dir or '~/.keras'}/datasets/"
        raise UserError(
            f"data.source 'keras:{name}' is not in Keras' cache and could not be downloaded "
            f"({err}). On a machine with internet, download {' '.join(dataset.urls)} and copy "
            f"it to {cache}{dataset.cached_as}, or point data.source at a local copy with "
            "npz:PATH or idx:DIR"
        ) from None
    return SourceData(x_train, y_train, x_test, y_test, list(dataset.class_names))
