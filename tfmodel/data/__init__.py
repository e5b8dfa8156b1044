"""Data for training: a source named by URI, split into train/val/test, fed through tf.data.

Sources: `sklearn:digits`, `tfds:NAME[:CONFIG]`, `keras:mnist|fashion_mnist|cifar10`, `npz:PATH`,
`idx:DIR`, `images:DIR` — one module each. Pixels stay raw; the model rescales them.
"""

from tfmodel.data.pipeline import batches_per_epoch, build_dataset, build_eval_dataset
from tfmodel.data.splits import Splits, load_splits

__all__ = ["Splits", "batches_per_epoch", "build_dataset", "build_eval_dataset", "load_splits"]
