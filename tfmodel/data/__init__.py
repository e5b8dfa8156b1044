"""Data for training: a source named by URI, split into train/val/test, fed through tf.data.

Sources: `sklearn:digits`, `tfds:NAME[:CONFIG]`, `keras:mnist|fashion_mnist|cifar10`, `npz:PATH`,
`idx:DIR`, `images:DIR` — one module each. Pixels stay raw; the model rescales them.
Array sources are loaded whole; an image folder is streamed from disk:

    images      list a folder, find bad files, assign each file its split by a hash of its path
    decode      the one decode/resize recipe (training and the export's serving_bytes)
    streaming   tf.data from file lists: epoch order from (seed, epoch), cache, augment
    augment     seeded training-time augmentation
    records     split.csv / split.json / augment.png in the run folder
"""

from tfmodel.data.pipeline import batches_per_epoch, build_dataset, build_eval_dataset
from tfmodel.data.splits import Splits, load_splits
from tfmodel.data.streaming import StreamedSplits, build_file_dataset, build_file_eval_dataset

__all__ = [
    "Splits",
    "StreamedSplits",
    "batches_per_epoch",
    "build_dataset",
    "build_eval_dataset",
    "build_file_dataset",
    "build_file_eval_dataset",
    "load_splits",
]
