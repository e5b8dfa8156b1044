"""`sklearn:digits`: scikit-learn's 1797 real 8×8 handwritten digits, shipped inside the package."""

from __future__ import annotations

from sklearn import datasets

from tfmodel.data.source import SourceData
from tfmodel.errors import UserError


def load_digits_source(name: str, data_dir: str | None) -> SourceData:
    """The digits as (1797, 8, 8) pixel values 0..16; they have no test split of their own."""
    del data_dir  # The data ships with scikit-learn.
    if name != "digits":
        raise UserError(
            f"data.source 'sklearn:{name}' is not available: the sklearn source is 'sklearn:digits'"
        )
    digits = datasets.load_digits()
    return SourceData(
        x_train=digits.images,
        y_train=digits.target,
        class_names=[str(name) for name in digits.target_names],
    )
