"""Data for training: a source named by URI, split into train/val/test, fed through tf.data.

Pixels stay raw; the model rescales them. Top to bottom:

    splits        `load_splits`: the source a config names → train / validation / test arrays
    pipeline      tf.data from arrays: batches for model.fit and for evaluation
    source        what every source hands over before splitting (arrays as stored, class names)
Array sources, one module each, loaded whole:
    digits        `sklearn:digits`, scikit-learn's 8×8 digits, no download
    tfds_source   `tfds:NAME[:CONFIG]`, a dataset already prepared in a data dir
    keras_source  `keras:mnist|fashion_mnist|cifar10`, from Keras' cache
    npz           `npz:PATH`, `x_train y_train x_test y_test` in one archive
    idx           `idx:DIR`, MNIST-style IDX files
Streamed from disk (an image folder, or a TFDS dataset of mixed-size images):
    images        `images:DIR`: list a folder, find bad files, give each file its split by a hash
    tfds_stream   `tfds:NAME` of mixed sizes, read still encoded from the prepared TFDS files
    decode        the one decode/resize recipe (training and the export's serving_bytes)
    streaming     tf.data from file lists: epoch order from (seed, epoch), cache, augment
    augment       seeded training-time augmentation
    records       split.csv / split.json / augment.png in the run folder
After training, every stage reads splits of either kind through:
    reading       a split batch by batch, its first N images, predictions, a seeded sample
"""

from tfmodel.data import reading
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
    "reading",
]
