"""Data-parallel maths proven by weights: 1 device × 64 = 2 replicas × 32 = 8 replicas × 8.

Logical CPUs must be set before TensorFlow starts, so the training runs in a child process that
splits the CPU into 8 and trains the same model from the same initial weights on the same batches
under each strategy, with the project's SGD (momentum), Adam and RMSprop, then prints the largest
weight difference from the one-device run. In float32 only the order of the cross-replica sums
differs, so the weights must agree to 1e-5.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

STEPS = 12
TOLERANCE = 1e-5

# argv: replicas, output .npz. Trains with each optimizer; saves the final weights.
SCRIPT = textwrap.dedent(
    f"""
    import sys
    from tfmodel.distribute.strategies import split_cpu
    replicas, out = int(sys.argv[1]), sys.argv[2]
    split_cpu(8)
    import numpy as np
    from tfmodel.backend import keras, tf
    from tfmodel.config import Config
    from tfmodel.data import build_dataset, load_splits
    from tfmodel.models import build_model, compile_for_training

    if replicas == 1:
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    else:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{{i}}" for i in range(replicas)])
    config = Config()
    config.model.hidden_units = [32]
    splits = load_splits(config.data, config.training.seed)
    x, y = splits.x_train[: 64 * {STEPS}], splits.y_train[: 64 * {STEPS}]
    saved = {{}}
    for name in ("sgd", "adam", "rmsprop"):
        config.optimizer.name = name
        config.optimizer.learning_rate = 0.05 if name == "sgd" else 0.003
        config.optimizer.schedule = "cosine"  # the schedule's position must agree too
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build_model(config.model, config.regularizer, splits.input_shape,
                                splits.num_classes, splits.pixel_max)
            compile_for_training(model, config.optimizer, {STEPS}, 1)
        model.fit(build_dataset(x, y, 64, shuffle=False, seed=0), epochs=1, verbose=0)
        for i, weight in enumerate(model.get_weights()):
            saved[f"{{name}}/{{i}}"] = weight
    np.savez(out, **saved)
    """
)
LAYOUTS = {"1x64": 1, "2x32": 2, "8x8": 8}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """Final weights per layout, each trained in its own process (one strategy per process)."""
    folder = tmp_path_factory.mktemp("weights")
    runs = {
        layout: subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(replicas), str(folder / f"{layout}.npz")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for layout, replicas in LAYOUTS.items()
    }
    found = {}
    try:
        for layout, run in runs.items():
            _, err = run.communicate(timeout=400)
            assert run.returncode == 0, err[-3000:]
            found[layout] = dict(np.load(folder / f"{layout}.npz"))
    finally:
        for run in runs.values():
            run.kill()
    return found


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("layout", ["2x32", "8x8"])
def test_replicas_reach_the_one_device_weights(weights, optimizer, layout):
    names = [name for name in weights["1x64"] if name.startswith(f"{optimizer}/")]
    reference = [weights["1x64"][name] for name in names]
    got = [weights[layout][name] for name in names]
    largest = max(float(np.abs(a - b).max()) for a, b in zip(reference, got, strict=True))
    print(f"{optimizer} {layout}: max |Δw| = {largest:.2e}")
    other = "sgd" if optimizer != "sgd" else "adam"  # a different rule lands elsewhere
    moved = max(
        float(np.abs(a - weights["1x64"][f"{other}/{name.split('/')[1]}"]).max())
        for a, name in zip(reference, names, strict=True)
    )
    assert moved > 100 * TOLERANCE
    assert largest <= TOLERANCE
