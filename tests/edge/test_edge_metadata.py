"""Metadata inside the `.tflite`: MediaPipe Tasks classifies with the file alone, as edge does.

The digits CNN on 32×32 RGB trained a few steps on generated colour images goes through
`edge.optimize` (tests/edge/conftest.py's `colours_edge`); MediaPipe's ImageClassifier (the C++
task of Android, iOS and the web), run in its own venv, must give edge.device's top-1 on ≥ 99 %
of the test images, and must refuse the same file stripped of its metadata (so the metadata is
what makes it work).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from colours import save_pngs

pytest.importorskip("tensorflow")

from edge import convert, metadata  # noqa: E402
from edge.device.runtime import EdgeModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE_PYTHON = ROOT / ".venv-mediapipe" / "bin" / "python"
CLASSIFY = Path(__file__).with_name("mediapipe_classify.py")


def classify_with_mediapipe(model: Path, images: list[Path]) -> dict:
    done = subprocess.run(
        [str(MEDIAPIPE_PYTHON), str(CLASSIFY), str(model), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mediapipe_classifies_like_edge_with_the_metadata_alone(colours_edge, tmp_path):
    if not MEDIAPIPE_PYTHON.is_file():
        pytest.skip("needs make mediapipe-venv (make test makes it)")
    out_dir, splits, model = colours_edge
    images = save_pngs(splits.x_test, tmp_path)
    model_path = out_dir / "model_int8.tflite"
    edge_model = EdgeModel(model_path)
    assert edge_model.input_dtype == "float32"  # int8 inside, float I/O
    edge_top = edge_model.predict(edge_model.load_inputs(images)).argmax(axis=1)
    answer = classify_with_mediapipe(model_path, images)
    mediapipe_top = np.array([t["index"] for t in answer["top"]])
    assert np.mean(edge_top == splits.y_test) >= 0.9  # it learned: the agreement means something
    assert np.mean(mediapipe_top == edge_top) >= 0.99
    assert [t["label"] for t in answer["top"]] == [splits.class_names[i] for i in mediapipe_top]

    # The same model converted without metadata (as with no .venv-metadata): MediaPipe refuses it.
    bare = tmp_path / "bare.tflite"
    calibration = convert.calibration_examples(splits.x_train, 100)
    bare.write_bytes(convert.convert_model(model, "pixels", "int8", calibration))
    refused = classify_with_mediapipe(bare, images[:1])
    assert "error" in refused, refused


@pytest.mark.slow
def test_metadata_reads_back_with_size_colour_normalization_and_range(colours_edge):
    out_dir, *_ = colours_edge
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
