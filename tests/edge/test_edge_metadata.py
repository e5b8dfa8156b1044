"""Metadata inside the `.tflite`: MediaPipe Tasks classifies with the file alone, as edge does.

The digits CNN on 32×32 RGB, trained a few steps on generated colour images (a MobileNetV2 this
briefly trained answers one class for everything: its batch-norm averages move slowly), goes
through `edge.optimize`; MediaPipe's ImageClassifier (the C++ task of Android, iOS and the web),
run in its own venv, must give edge.device's top-1 on ≥ 99 % of the test images, and must refuse
the same file stripped of its metadata (so the metadata is what makes it work).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge import convert, metadata  # noqa: E402
from edge.device.runtime import EdgeModel  # noqa: E402
from tfmodel.data.splits import Splits  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE_PYTHON = ROOT / ".venv-mediapipe" / "bin" / "python"
CLASSIFY = Path(__file__).with_name("mediapipe_classify.py")
COLOURS = ["red", "green", "blue"]


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 32×32 RGB images, class k brightest in channel k; whole raw pixels 0..255."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(COLOURS), count)
    x = rng.integers(0, 140, size=(count, 32, 32, 3)).astype(np.float32)
    x[np.arange(count), :, :, y] += rng.integers(60, 116, size=(count, 1, 1)).astype(np.float32)
    return x, y.astype(np.int64)


def classify_with_mediapipe(model: Path, images: list[Path]) -> dict:
    done = subprocess.run(
        [str(MEDIAPIPE_PYTHON), str(CLASSIFY), str(model), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def photos_edge(digits_config, tmp_path_factory):
    """`edge.optimize` (float32 and int8) on the CNN trained 3 epochs on colour images."""
    if metadata.writer_python() is None or not MEDIAPIPE_PYTHON.is_file():
        pytest.skip("needs make metadata-venv mediapipe-venv (make test makes them)")
    from edge.finetune import finetune
    from edge.optimize import optimize
    from tfmodel.models import build_model

    x, y = colour_images(220, seed=0)
    splits = Splits(x[:120], y[:120], x[120:140], y[120:140], x[140:], y[140:], COLOURS, 255.0)
    config = copy.deepcopy(digits_config)
    config.model.name = "cnn"
    config.output.name, config.edge.variants = "colours_cnn", ["int8"]
    model = build_model(config.model, config.regularizer, (32, 32, 3), 3, 255.0)
    model = finetune(model, splits, config, 3)
    out_dir = tmp_path_factory.mktemp("photos") / "edge"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("edge.optimize.LATENCY_RUNS", 5)  # the report's timing is not tested here
        optimize(model, splits, config, out_dir)
    return out_dir, splits, model


@pytest.mark.slow
def test_mediapipe_classifies_like_edge_with_the_metadata_alone(photos_edge, tmp_path):
    from PIL import Image

    out_dir, splits, model = photos_edge
    images = []
    for i, pixels in enumerate(splits.x_test):
        images.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels.astype(np.uint8)).save(images[-1])
    model_path = out_dir / "model_int8.tflite"
    edge_model = EdgeModel(model_path)
    assert edge_model.input_dtype == "float32"  # int8 inside, float I/O
    edge_top = edge_model.predict(edge_model.load_inputs(images)).argmax(axis=1)
    answer = classify_with_mediapipe(model_path, images)
    mediapipe_top = np.array([t["index"] for t in answer["top"]])
    assert np.mean(edge_top == splits.y_test) >= 0.9  # it learned: the agreement means something
    assert np.mean(mediapipe_top == edge_top) >= 0.99
    assert [t["label"] for t in answer["top"]] == [COLOURS[i] for i in mediapipe_top]

    # The same model converted without metadata (as with no .venv-metadata): MediaPipe refuses it.
    bare = tmp_path / "bare.tflite"
    calibration = convert.calibration_examples(splits.x_train, 100)
    bare.write_bytes(convert.convert_model(model, "pixels", "int8", calibration))
    refused = classify_with_mediapipe(bare, images[:1])
    assert "error" in refused, refused


@pytest.mark.slow
def test_metadata_reads_back_with_size_colour_normalization_and_range(photos_edge):
    out_dir, *_ = photos_edge
    script = (
        "import sys; from tflite_support import metadata as m; "
        "d = m.MetadataDisplayer.with_model_file(sys.argv[1]); "
        "print(d.get_metadata_json()); print(d.get_packed_associated_file_list())"
    )
    done = subprocess.run(
        [str(metadata.writer_python()), "-c", script, str(out_dir / "model_int8.tflite")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text, files = done.stdout.rsplit("\n", 2)[:2]
    model = json.loads(text)
    assert model["name"] == "colours_cnn" and "int8" in model["description"]
    (image,) = model["subgraph_metadata"][0]["input_tensor_metadata"]
    assert image["content"]["content_properties"]["color_space"] == "RGB"
    assert image["content"]["content_properties"]["default_size"] == {"width": 32, "height": 32}
    assert image["process_units"][0]["options"] == {"mean": [0.0], "std": [1.0]}
    assert image["stats"] == {"max": [255.0], "min": [0.0]}
    assert files == "['labels.txt']"


def test_without_the_helper_venv_files_are_left_as_they_are(tmp_path, monkeypatch):
    monkeypatch.setenv(metadata.VENV_PYTHON_ENV, str(tmp_path / "no-venv" / "python"))
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3 stand-in")
    info = metadata.describe("digits", ["0", "1"], (8, 8, 1), 16.0)
    assert metadata.embed_metadata(model, info) is False
    assert model.read_bytes() == b"TFL3 stand-in"
    assert ".venv-metadata" in metadata.missing_writer_note()
    # Raw pixels 0..16 from MediaPipe's 0..255: (p − 0) / (255 / 16); grey, 8×8.
    assert info["mean"] == [0.0] and info["std"] == [255.0 / 16.0] and info["max"] == 16.0
    assert (info["color_space"], info["width"], info["height"]) == ("GRAYSCALE", 8, 8)
    assert metadata.describe("tabular", ["a"], (20,), 1.0) is None
