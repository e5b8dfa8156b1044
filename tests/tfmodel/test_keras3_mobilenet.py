"""A Keras 3 `keras.applications.MobileNetV3Small` (weights=None, α 0.25, 32×32, logits) from a
`model.builder` trains one epoch on generated photos with the project's optimizer and L2 on every
kernel (depthwise and squeeze-excite ones too), and loads back with Keras 3."""

import json
import math
import subprocess
import sys
import textwrap

import pytest
from photos import write_photo_folder

from tfmodel import runs

BUILDER = textwrap.dedent(
    """
    import keras

    def mobilenet(input_shape, num_classes):
        return keras.applications.MobileNetV3Small(
            input_shape=input_shape, alpha=0.25, weights=None, classes=num_classes,
            include_preprocessing=True, classifier_activation=None,
        )
    """
)


@pytest.mark.slow
def test_a_keras3_mobilenet_v3_small_trains_one_epoch_on_photos(tmp_path):
    from tfmodel.keras3 import keras
    from tfmodel.optimizers.keras3 import Adam

    write_photo_folder(tmp_path / "photos", per_class=24)
    (tmp_path / "mobilenet3.py").write_text(BUILDER)
    settings = [
        f"data.source=images:{tmp_path / 'photos'}", "data.image_size=[32,32]",
        "data.batch_size=16", f"model.builder={tmp_path / 'mobilenet3.py'}:mobilenet",
        "optimizer.name=adam", "regularizer.kind=l2", "regularizer.l2=1.0e-5",
        "export.enabled=false", "edge.enabled=false", "training.verbose=2",
    ]  # fmt: skip
    command = [sys.executable, "-m", "tfmodel.train", "--epochs", "1", "--output", "runs"]
    command += [arg for setting in settings for arg in ("--set", setting)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run_dir = tmp_path / "runs" / runs.LATEST_LINK
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 48
    _, model = runs.load_run(run_dir)
    assert isinstance(model, keras.Model) and type(model.optimizer) is Adam
    assert model.name.startswith("MobileNetV3Small")
    steps = math.ceil(metrics["n_train"] / metrics["global_batch_size"])
    assert int(model.optimizer.iterations.numpy()) == steps  # one epoch trained
    kernels = [w for w in model.weights if w.path.endswith("kernel")]
    assert len(kernels) == 54  # convolutions, depthwise and squeeze-excite ones, and the logits
    assert len(model.losses) == len(kernels)  # one L2 penalty on each
