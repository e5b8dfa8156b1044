"""The TPU recipe for real on 8 logical CPUs: `python -m tfmodel.train --simulate-tpu 8`.

One run (in a child process: logical devices must be set before TensorFlow starts) trains digits
with every TPU setting, then the run goes through export, serving and edge.optimize as a user's
would. The child spies on fit/evaluate to record the batch shapes and steps per execution they
got, and recomputes the test and validation metrics with numpy from the model's predictions on
the whole split: if padding dropped or double-counted an example, they would not match.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfmodel import runs
from tfmodel.backend import tf
from tfmodel.config import load_config
from tfmodel.data import load_splits

pytestmark = pytest.mark.slow

COMMAND = ["--simulate-tpu", "8", "--epochs", "4", "--set", "optimizer.scale_learning_rate=true"]
DRIVER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tfmodel import train as train_module
    from tfmodel.backend import keras
    from tfmodel.data import build_eval_dataset, load_splits

    seen = {"evaluate": []}
    real_fit, real_evaluate = keras.Model.fit, keras.Model.evaluate

    def spy_fit(model, x=None, *args, validation_data=None, **kwargs):
        seen["train"] = x.element_spec[0].shape.as_list()
        seen["steps_per_execution"] = int(model._steps_per_execution.numpy())
        return real_fit(model, x, *args, validation_data=validation_data, **kwargs)

    def spy_evaluate(model, x=None, *args, **kwargs):
        spec = getattr(x, "element_spec", None)
        if spec is not None:  # fit's validation passes its own cached handler
            seen["evaluate"].append(spec[0].shape.as_list())
        return real_evaluate(model, x, *args, **kwargs)

    keras.Model.fit, keras.Model.evaluate = spy_fit, spy_evaluate
    args = train_module.parse_args(sys.argv[1:])
    overrides = train_module.overrides_from_flags(args, train_module.FLAG_KEYS)
    config = train_module.load_config(None, overrides)
    result = train_module.train(config)
    model = result.model
    splits = load_splits(config.data, config.training.seed)

    def reference(x, y):
        logits = model.predict(x, batch_size=256, verbose=0).astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        penalty = float(sum(float(loss) for loss in model.losses))
        loss = -log_p[np.arange(len(y)), y].mean() + penalty
        return float(np.mean(logits.argmax(1) == y)), float(loss)

    val_loss, val_accuracy = model.evaluate(
        build_eval_dataset(splits.x_val, splits.y_val, 256, static_shapes=True), verbose=0
    )
    print("RESULT", json.dumps({
        "seen": seen,
        "policy_after": keras.mixed_precision.global_policy().name,
        "layer_policy": model.get_layer("dense0").dtype_policy.name,
        "test": [result.test_accuracy, result.test_loss],
        "test_reference": reference(splits.x_test, splits.y_test),
        "val": [val_accuracy, val_loss],
        "val_reference": reference(splits.x_val, splits.y_val),
        "run_dir": str(result.run_dir),
    }))
    """
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The run's RESULT line, its stdout and metrics.json."""
    cwd = tmp_path_factory.mktemp("tpu")
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, *COMMAND, "--output", "runs", "--set", "training.verbose=2"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    run_dir = cwd / result["run_dir"]
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    return result, out.stdout, metrics, run_dir


def test_every_tpu_setting_is_on(simulated):
    result, stdout, metrics, _ = simulated
    assert "MirroredStrategy: 8 replicas on CPU:0, CPU:1" in stdout
    assert "standing in for a 8-core TPU" in stdout
    assert "batch 32 per replica × 8 = 256 global; precision mixed_bfloat16" in stdout
    assert (metrics["replicas"], metrics["global_batch_size"]) == (8, 256)
    assert (metrics["strategy"], metrics["precision"]) == ("simulated_tpu", "mixed_bfloat16")
    assert result["layer_policy"] == "mixed_bfloat16"
    assert result["seen"]["steps_per_execution"] == 32
    # static shapes everywhere: the train, validation and test batches are all exactly 256
    assert result["seen"]["train"][0] == 256
    assert result["seen"]["evaluate"] and all(s[0] == 256 for s in result["seen"]["evaluate"])
    assert metrics["test_accuracy"] > 0.85  # it learned


def test_every_example_counts_once_in_validation_and_test(simulated):
    result, stdout, metrics, _ = simulated
    assert "test accuracy" in stdout and "(n=360)" in stdout
    for split, size in (("test", 360), ("val", 144)):
        accuracy, loss = result[split]
        want_accuracy, want_loss = result[f"{split}_reference"]
        assert accuracy * size == pytest.approx(round(accuracy * size), abs=1e-3)  # whole examples
        assert accuracy == pytest.approx(want_accuracy, abs=1e-6), split
        assert loss == pytest.approx(want_loss, rel=1e-4), split


def test_the_policy_does_not_leak_out_of_train(simulated):
    assert simulated[0]["policy_after"] == "float32"


def test_export_serves_float32_within_a_point_of_keras(simulated):
    _, _, metrics, run_dir = simulated
    config = load_config(run_dir / runs.CONFIG_FILE)
    splits = load_splits(config.data, config.training.seed)
    (version,) = (run_dir / runs.EXPORT_DIR / config.output.name).iterdir()
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = served(pixels=tf.constant(splits.x_test))
    assert out["logits"].dtype == tf.float32
    accuracy = float(np.mean(out["classes"].numpy() == splits.y_test))
    assert abs(accuracy - metrics["test_accuracy"]) <= 0.01

    from serving.demo import run_demo

    assert abs(run_demo(run_dir, count=360) - metrics["test_accuracy"]) <= 0.01


def test_edge_converts_the_bfloat16_run_within_a_point(simulated, tmp_path):
    from edge.optimize import optimize_path

    _, _, metrics, run_dir = simulated
    result = optimize_path(run_dir, ["edge.variants=[float32,int8]"], out_dir=tmp_path)
    accuracies = {row.variant: row.test_accuracy for row in result.rows}
    assert {"keras", "float32", "int8"} <= set(accuracies)
    for variant, accuracy in accuracies.items():
        assert abs(accuracy - metrics["test_accuracy"]) <= 0.01, (variant, accuracies)
