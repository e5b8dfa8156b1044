"""The confusion matrix against counts made by hand, and its most-confused pairs."""

import numpy as np

from tfmodel.analysis.confusion import (
    confusion_matrix,
    format_pairs,
    load_confusion,
    plot_confusion,
    save_confusion,
)


def test_counts_true_rows_against_predicted_columns():
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 0, 0, 2])
    confusion = confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    np.testing.assert_array_equal(confusion.matrix, [[1, 1, 0], [0, 2, 1], [3, 0, 1]])
    np.testing.assert_allclose(confusion.per_class_accuracy, [1 / 2, 2 / 3, 1 / 4])
    assert confusion.accuracy == 4 / 9
    assert confusion.most_confused(2) == [("c", "a", 3), ("a", "b", 1)]
    assert confusion.most_confused(10)[-1] == ("b", "c", 1)  # only real mix-ups listed
    assert "c → a" in format_pairs(confusion.most_confused(1))


def test_a_class_absent_from_the_split_has_no_accuracy():
    confusion = confusion_matrix(np.array([0, 0]), np.array([0, 1]), ["0", "1"])
    assert np.isnan(confusion.per_class_accuracy[1])
    assert (
        format_pairs(confusion_matrix(np.array([1]), np.array([1]), ["0", "1"]).most_confused())
        == "no mistakes"
    )


def test_saved_matrix_loads_back_and_plots(tmp_path):
    confusion = confusion_matrix(np.array([0, 1, 1]), np.array([1, 1, 0]), ["cat", "dog"])
    save_confusion(confusion, tmp_path / "c.json")
    loaded = load_confusion(tmp_path / "c.json")
    np.testing.assert_array_equal(loaded.matrix, confusion.matrix)
    assert loaded.class_names == ["cat", "dog"]
    plot_confusion(loaded, tmp_path / "c.png", "test split")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
