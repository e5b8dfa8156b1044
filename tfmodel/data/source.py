"""What every data source hands over before splitting: arrays as stored, plus class names."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SourceData:
    """Images (N, H, W) or (N, H, W, C) in their stored dtype and integer labels (N,).

    `x_test`/`y_test` are None when the source has no test split (it is then carved from train).
    `class_names` is None when the source does not name its classes ("0", "1", … are used).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None
