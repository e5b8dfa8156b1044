"""`python -m edge.optimize MODEL` on models a user brings (tests/brought_models.py, shared
session fixtures): a Keras 3 MobileNetV3Small as `.keras` and as its `model.export()` SavedModel,
a Keras 3 model with a layer of the user's own, a tf_keras `.keras` file and a plain `tf.Module`
SavedModel; and the one-line refusals. Each model goes through the command once (module-scoped).
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from brought_models import forget_custom_layer, photo_arrays
from colours import save_pngs
from test_edge_metadata import MEDIAPIPE_PYTHON, classify_with_mediapipe

pytest.importorskip("tensorflow")

from edge import optimize  # noqa: E402
from edge.device.runtime import EdgeModel  # noqa: E402

TARGET_SPARSITY = 0.5
FAST = ["--set", "edge.prune_epochs=1", "--set", "edge.latency_seconds=0.2"]


def run_optimize(model, out, *flags):
    """edge.optimize's exit code on `model` into `out` (fast settings)."""
    return optimize.main([str(model), "--output", str(out), *FAST, *flags])


def keras3_probabilities(keras_file, x):
    from tfmodel.keras3 import keras

    return keras.saving.load_model(keras_file).predict(x, verbose=0)


@pytest.fixture(scope="module")
def keras3_edge(keras3_mobilenet, tmp_path_factory):
    """The `.keras` route: float32, int8, the pruned pair and QAT asked (skipped for Keras 3)."""
    out = tmp_path_factory.mktemp("keras3") / "edge"
    flags = ["--data", f"images:{keras3_mobilenet.photos}", "--qat"]
    flags += ["--variants", "float32,int8,pruned_float32,pruned_int8"]
    flags += ["--set", f"edge.target_sparsity={TARGET_SPARSITY}"]
    assert run_optimize(keras3_mobilenet.keras_file, out, *flags) == 0
    return out


@pytest.mark.slow
def test_keras3_int8_agrees_with_keras3(keras3_edge, keras3_mobilenet):
    x, _ = photo_arrays(keras3_mobilenet.photos)
    int8 = EdgeModel(keras3_edge / "model_int8.tflite")
    assert int8.input_dtype == "float32" and int8.integer_output()["dtype"] == "int8"
    keras_top = keras3_probabilities(keras3_mobilenet.keras_file, x).argmax(axis=1)
    assert np.mean(int8.predict(x).argmax(axis=1) == keras_top) >= 0.98
    report = json.loads((keras3_edge / "report.json").read_text())
    assert report["recommended"] in {r["file"] for r in report["rows"][1:]}
    assert "int8 dot product" in report["cpu"]
    markdown = (keras3_edge / "report.md").read_text()
    assert "qat_int8 skipped: QAT is TFMOT's" in markdown
    assert f"ship {report['recommended']} on this CPU" in markdown
    card = (keras3_edge / "model_card.md").read_text()
    assert str(keras3_mobilenet.keras_file) in card and report["table"] in card


@pytest.mark.slow
def test_keras3_pruned_file_holds_the_target_sparsity(keras3_edge):
    from edge.sparsity import tflite_kernel_sparsity

    sparsity = tflite_kernel_sparsity(keras3_edge / "model_pruned_float32.tflite")
    assert len(sparsity) > 20  # every conv, depthwise conv and dense kernel of MobileNetV3
    for name, fraction in sparsity.items():
        assert abs(fraction - TARGET_SPARSITY) <= 0.01, name
    unpruned = tflite_kernel_sparsity(keras3_edge / "model_float32.tflite")
    assert max(unpruned.values()) < 0.1


@pytest.mark.slow
def test_mediapipe_classifies_the_keras3_file_like_edge(keras3_edge, keras3_mobilenet, tmp_path):
    if not MEDIAPIPE_PYTHON.is_file():
        pytest.skip("needs make mediapipe-venv (make test makes it)")
    x, _ = photo_arrays(keras3_mobilenet.photos)
    images = save_pngs(x, tmp_path)  # 3-channel sRGB, as camera frames are
    model_path = keras3_edge / "model_int8.tflite"
    edge_model = EdgeModel(model_path)
    edge_top = edge_model.predict(edge_model.load_inputs(images)).argmax(axis=1)
    answer = classify_with_mediapipe(model_path, images)
    mediapipe_top = np.array([t["index"] for t in answer["top"]])
    assert np.mean(mediapipe_top == edge_top) >= 0.98
    labels = json.loads((keras3_edge / "model.json").read_text())["labels"]
    assert [t["label"] for t in answer["top"]] == [labels[i] for i in mediapipe_top]


@pytest.mark.slow
def test_keras3_saved_model_encrypted_and_signed(keras3_mobilenet, tmp_path):
    from edge.device.signature import verify_folder
    from edge.encrypt import generate_key
    from tfmodel.sign import generate_key_pair

    generate_key(tmp_path / "enc.key")
    generate_key_pair(tmp_path / "s.key", tmp_path / "s.pub")
    out = tmp_path / "edge"
    flags = ["--data", f"images:{keras3_mobilenet.photos}", "--variants", "int8"]
    flags += ["--encrypt-key", str(tmp_path / "enc.key"), "--sign-key", str(tmp_path / "s.key")]
    assert run_optimize(keras3_mobilenet.export_dir, out, *flags) == 0
    assert sorted(p.name for p in out.glob("model_*.tflite*")) == [
        "model_float32.tflite.enc",
        "model_int8.tflite.enc",
    ]
    verify_folder(out, tmp_path / "s.pub")  # model.sig lists the encrypted files and the card
    int8 = EdgeModel(
        out / "model_int8.tflite.enc",
        verify_key=tmp_path / "s.pub",
        decrypt_key=tmp_path / "enc.key",
    )
    x, _ = photo_arrays(keras3_mobilenet.photos)
    keras_top = keras3_probabilities(keras3_mobilenet.keras_file, x).argmax(axis=1)
    assert np.mean(int8.predict(x).argmax(axis=1) == keras_top) >= 0.98


@pytest.mark.slow
def test_custom_layer_logits_model(keras3_custom_layer, keras3_mobilenet, tmp_path, capsys):
    keras_file, layers_file = keras3_custom_layer
    data = ["--data", f"images:{keras3_mobilenet.photos}", "--variants", "int8"]
    forget_custom_layer()  # an earlier test in this process may have imported the user's file
    assert run_optimize(keras_file, tmp_path / "refused", *data) == 2
    assert "--custom-objects" in capsys.readouterr().err
    out = tmp_path / "edge"
    assert run_optimize(keras_file, out, *data, "--custom-objects", str(layers_file)) == 0
    x, _ = photo_arrays(keras3_mobilenet.photos)
    probabilities = EdgeModel(out / "model_float32.tflite").predict(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)  # softmax applied


@pytest.mark.slow
def test_tf_keras_file_pruned_and_quantization_aware(tf_keras_file, keras3_mobilenet, tmp_path):
    out = tmp_path / "edge"
    flags = ["--data", f"images:{keras3_mobilenet.photos}", "--variants", "pruned_int8", "--qat"]
    flags += ["--set", f"edge.target_sparsity={TARGET_SPARSITY}"]
    assert run_optimize(tf_keras_file, out, *flags) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["variant"] for r in report["rows"]] == ["keras", "float32", "pruned_int8", "qat_int8"]
    # tfmot prunes the conv and the dense kernel, and leaves the depthwise kernel whole
    assert report["layer_sparsity"]["conv0"] == pytest.approx(TARGET_SPARSITY, abs=0.01)
    assert report["unpruned_layers"] == ["depthwise"]


@pytest.mark.slow
def test_plain_saved_model_gets_post_training_int8(plain_module, keras3_mobilenet, tmp_path):
    out = tmp_path / "edge"
    flags = ["--data", f"images:{keras3_mobilenet.photos}", "--variants", "int8,pruned_int8"]
    assert run_optimize(plain_module, out, *flags, "--qat") == 0
    assert sorted(p.name for p in out.glob("*.tflite")) == [
        "model_float32.tflite",
        "model_int8.tflite",
    ]
    markdown = (out / "report.md").read_text()
    assert "pruned_int8 skipped:" in markdown and "qat_int8 skipped:" in markdown
    int8 = EdgeModel(out / "model_int8.tflite")
    assert int8.input_dtype == "float32" and int8.integer_output()["dtype"] == "int8"


FLEX_LAYER = """
import keras


@keras.saving.register_keras_serializable(package="flex_layers")
class SingularValues(keras.layers.Layer):
    def call(self, x):
        return keras.ops.svd(x[..., 0], compute_uv=False)
"""


def test_a_keras3_layer_only_flex_runs_is_one_line(tmp_path, capsys):
    from tfmodel.keras3 import keras

    (tmp_path / "flex_layers.py").write_text(textwrap.dedent(FLEX_LAYER))
    namespace = {}
    exec(compile(FLEX_LAYER, "flex_layers.py", "exec"), namespace)
    pixels = keras.Input((8, 8, 3), name="pixels")
    values = namespace["SingularValues"]()(pixels)
    model = keras.Model(pixels, keras.layers.Dense(2)(values))
    model.save(tmp_path / "flex.keras")
    keras.saving.get_custom_objects().pop("flex_layers>SingularValues", None)
    data = tmp_path / "data.npz"
    x = np.random.default_rng(0).uniform(0, 255, (40, 8, 8, 3)).astype(np.float32)
    y = np.arange(40) % 2
    np.savez(data, x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    out = tmp_path / "edge"
    flags = ["--data", f"npz:{data}", "--custom-objects", str(tmp_path / "flex_layers.py")]
    assert run_optimize(tmp_path / "flex.keras", out, *flags, "--variants", "float32") == 2
    err = capsys.readouterr().err.strip()
    assert "tf.Svd" in err and "Flex" in err and "\n" not in err
    assert not list(out.glob("*.tflite"))


def test_data_with_other_classes_is_one_line(keras3_custom_layer, tmp_path, capsys):
    from photos import write_photo_folder

    keras_file, layers_file = keras3_custom_layer
    write_photo_folder(tmp_path / "photos", 3)
    (tmp_path / "photos" / "grey").mkdir()
    for path in sorted((tmp_path / "photos" / "dark").iterdir()):
        (tmp_path / "photos" / "grey" / path.name).write_bytes(path.read_bytes())
    flags = ["--data", f"images:{tmp_path / 'photos'}", "--custom-objects", str(layers_file)]
    assert run_optimize(keras_file, tmp_path / "edge", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert "3 classes" in err and "outputs 2" in err and "\n" not in err
    assert not (tmp_path / "edge").exists()
