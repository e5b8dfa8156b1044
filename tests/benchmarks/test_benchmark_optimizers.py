"""benchmarks/optimizer_speed.py at a tiny size: the twins really are twins (the same rule from
the same weights on the same batches gives the same loss), and every round is timed."""

from __future__ import annotations

import pytest

from tfmodel.config import DataConfig, OptimizerConfig


@pytest.fixture(scope="module")
def comparisons():
    from benchmarks import optimizer_speed
    from tfmodel.data import load_splits

    splits = load_splits(DataConfig(), 0)
    sgd, adam = OptimizerConfig(name="sgd", learning_rate=0.1), OptimizerConfig(name="adam")
    return [
        optimizer_speed.compare("tiny", splits, name, cfg, 4, 3, hidden=(8,))
        for name, cfg in (("SGD", sgd), ("Adam", adam))
    ]


def test_every_round_is_timed(comparisons):
    for c in comparisons:
        for samples in (c.ours, c.keras):
            assert len(samples.wall) == len(samples.cpu) == 3 and min(samples.wall) > 0


def test_twins_reach_the_same_loss(comparisons):
    sgd, adam = comparisons
    assert sgd.ours_loss == pytest.approx(sgd.keras_loss, abs=1e-6)  # the very same rule
    # Keras adds ε to √v, ours to √v̂ (ε/√(1−β2ᵗ) apart), which moves weights whose gradients
    # are tiny a little differently: the losses agree to far better than 0.1%, not exactly.
    assert adam.ours_loss == pytest.approx(adam.keras_loss, rel=1e-3)
    assert adam.ours_loss != pytest.approx(sgd.ours_loss, abs=1e-3)  # the optimizers did differ
    assert sgd.row()[:2] == ["tiny", "SGD"]
