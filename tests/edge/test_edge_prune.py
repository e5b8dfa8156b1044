"""Pruning: the target sparsity is reached in the exported file, at a small accuracy cost."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edge.prune import overall_sparsity, prune_model  # noqa: E402
from edge.sparsity import pruning_steps  # noqa: E402
from tfmodel.errors import UserError  # noqa: E402


def row(digits_edge, variant):
    return next(r for r in digits_edge.rows if r.variant == variant)


def test_sparsity_reaches_target_on_every_kernel(digits_edge, digits_config):
    assert digits_config.edge.target_sparsity == 0.8
    assert set(digits_edge.sparsity) == {"dense0", "logits"}
    assert all(s >= 0.78 for s in digits_edge.sparsity.values())
    assert row(digits_edge, "pruned_int8").sparsity >= 0.78


def test_int8_file_keeps_the_zeros(digits_edge):
    """Read the int8 weight matrices back from the .tflite: the zeros survived quantization."""
    interpreter = Interpreter(model_path=str(digits_edge.out_dir / "model_pruned_int8.tflite"))
    weights = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] == np.int8 and len(detail["shape"]) == 2 and detail["shape"][0] > 1:
            try:
                weights.append(interpreter.get_tensor(detail["index"]))
            except ValueError:  # an activation, not a constant
                continue
    assert len(weights) == 2
    zeros = sum(np.sum(w == 0) for w in weights) / sum(w.size for w in weights)
    assert zeros >= 0.78


def test_pruned_int8_accuracy_within_one_and_a_half_points(digits_edge):
    float_accuracy = row(digits_edge, "float32").test_accuracy
    assert row(digits_edge, "pruned_int8").test_accuracy >= float_accuracy - 0.015
    pruned = row(digits_edge, "pruned_int8")
    assert pruned.gzip_bytes < 0.7 * row(digits_edge, "int8").gzip_bytes


def test_pruning_leaves_the_trained_model_alone(digits_edge, digits_model):
    assert overall_sparsity(digits_model) < 0.01


@pytest.mark.parametrize("total", [1, 2, 7, 40, 164, 1000])
def test_pruning_schedule_ends_on_a_mask_update_inside_the_run(total):
    end_step, frequency = pruning_steps(total)
    assert end_step % frequency == 0
    assert end_step <= max(1, total - 1)
    if total >= 4:
        assert end_step >= total // 2


@pytest.mark.parametrize("target", [1.0, -0.1])
def test_bad_target_sparsity_is_a_user_error(digits_model, digits_splits, digits_config, target):
    import copy

    config = copy.deepcopy(digits_config)
    config.edge.target_sparsity = target
    with pytest.raises(UserError, match="edge.target_sparsity"):
        prune_model(digits_model, digits_splits, config)
