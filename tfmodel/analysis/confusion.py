"""The confusion matrix of a classifier on one split: counts, per-class accuracy, worst mix-ups.

Training writes it for the test split into every run folder (`confusion.json` and a PNG, names in
`tfmodel.runs`); `tfmodel.explain` redraws it and the model card prints it. Rows are true labels,
columns predictions, as in scikit-learn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # TensorFlow loads only when a model is run: the matrix itself is numpy
    from tfmodel.data import Splits, StreamedSplits


@dataclass(frozen=True)
class Confusion:
    """`matrix[i, j]`: how many examples of class i were predicted as class j."""

    matrix: np.ndarray
    class_names: list[str]

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Recall of each class (NaN for a class with no examples in the split)."""
        support = self.matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.matrix) / support

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.matrix) / max(self.matrix.sum(), 1))

    def most_confused(self, top: int = 5) -> list[tuple[str, str, int]]:
        """The `top` (true, predicted, count) mix-ups, largest first, ties by class order."""
        off_diagonal = self.matrix.copy()
        np.fill_diagonal(off_diagonal, 0)
        order = np.argsort(-off_diagonal, axis=None, kind="stable")[:top]
        pairs = [np.unravel_index(i, off_diagonal.shape) for i in order]
        names = self.class_names
        return [
            (names[t], names[p], int(off_diagonal[t, p])) for t, p in pairs if off_diagonal[t, p]
        ]


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> Confusion:
    """Count (true, predicted) label pairs into a classes × classes matrix."""
    n = len(class_names)
    flat = np.asarray(y_true, np.int64) * n + np.asarray(y_pred, np.int64)
    return Confusion(np.bincount(flat, minlength=n * n).reshape(n, n), list(class_names))


def predict_confusion(model, splits: Splits | StreamedSplits, split: str) -> Confusion:
    """The confusion of `model` (logits out) on split `train`, `val` or `test`, predicted a
    batch at a time (a photo folder's split is never decoded whole)."""
    from tfmodel.data import reading

    def predict(batch: np.ndarray) -> np.ndarray:  # one step, as one batch of model.predict
        return model.predict(batch, batch_size=len(batch), verbose=0)

    logits = reading.predict_split(predict, splits, split)
    return confusion_matrix(
        reading.labels(splits, split), logits.argmax(axis=1), splits.class_names
    )


def save_confusion(confusion: Confusion, path: Path) -> None:
    """Write the matrix and class names as JSON (what the model card reads back)."""
    data = {"class_names": confusion.class_names, "matrix": confusion.matrix.tolist()}
    path.write_text(json.dumps(data) + "\n")


def load_confusion(path: Path) -> Confusion:
    data = json.loads(Path(path).read_text())
    return Confusion(np.asarray(data["matrix"], np.int64), list(data["class_names"]))


def plot_confusion(confusion: Confusion, png: Path, title: str) -> None:
    """The matrix as a heat map with its counts written in, row-normalised colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix, names = confusion.matrix, confusion.class_names
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(3 + 0.45 * len(names), 12)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rows[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 12 else 0)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: accuracy {confusion.accuracy:.4f}")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def format_pairs(pairs: list[tuple[str, str, int]]) -> str:
    """The most-confused pairs as aligned text lines: `true → predicted  count`."""
    if not pairs:
        return "no mistakes"
    return "\n".join(f"{true:>6} → {pred:<6} {count:>4}" for true, pred, count in pairs)
