"""Acceptance for image folders: a folder of mixed-size, mixed-format, grey and colour photos
trains (configs/photos_cnn.yaml, tiny), exports both signatures, serves, goes through
edge.optimize; the test accuracy equals a recomputation from the served export on the files
split.csv lists as test."""

import base64
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from photos import write_photo_folder

from edge import optimize
from serving.client import cli as client_cli
from tfmodel import runs
from tfmodel.config import load_config
from tfmodel.export import saved_model as export
from tfmodel.train import train

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "photos_cnn.yaml"


@pytest.mark.slow
def test_a_photo_folder_trains_exports_serves_and_optimizes(tmp_path, local_server, http, capsys):
    write_photo_folder(tmp_path / "photos", per_class=15)
    for name in (".DS_Store", "Thumbs.db", "notes.txt"):  # not images by name: left out
        (tmp_path / "photos" / "dark" / name).write_bytes(b"\x00\x00\x00\x01Bud1")
    config = load_config(
        CONFIG,
        [
            f"data.source=images:{tmp_path / 'photos'}",
            "data.image_size=[32,32]",
            "data.test_split=0.3",
            "training.epochs=2",
            "training.verbose=0",
            f"output.dir={tmp_path / 'runs'}",
        ],
    )
    result = train(config)
    run_dir = result.run_dir
    assert (run_dir / runs.AUGMENT_PLOT).stat().st_size > 0
    left_out = json.loads((run_dir / runs.SPLIT_SUMMARY).read_text())["not_images"]
    assert left_out == ["dark/.DS_Store", "dark/Thumbs.db", "dark/notes.txt"]
    assert "left out 3 file(s) that are not images by name" in capsys.readouterr().out
    with open(run_dir / runs.SPLIT_FILES) as stream:
        test_files = [row for row in csv.DictReader(stream) if row["split"] == "test"]
    assert len(test_files) == result.n_test > 0

    models_config = run_dir / runs.EXPORT_DIR / export.MODELS_CONFIG_FILE
    address = local_server(model_config_file=models_config)
    class_names = ["bright", "dark"]
    body = {
        "signature_name": export.BYTES_SIGNATURE,
        "instances": [
            {"b64": base64.b64encode((tmp_path / "photos" / row["path"]).read_bytes()).decode()}
            for row in test_files
        ],
    }
    status, text = http(address.rest, "/v1/models/photos_cnn:predict", body)
    assert status == 200, text
    predicted = [row["classes"] for row in json.loads(text)["predictions"]]
    truth = [class_names.index(row["class"]) for row in test_files]
    recomputed = float(np.mean(np.equal(predicted, truth)))
    assert recomputed == pytest.approx(result.test_accuracy, abs=1e-6)

    first = str(tmp_path / "photos" / test_files[0]["path"])
    capsys.readouterr()
    command = ["predict", "--server", address.grpc, "--model", "photos_cnn", "--input", first]
    assert client_cli.main([*command, "--signature", export.BYTES_SIGNATURE]) == 0
    printed = capsys.readouterr().out
    assert f"classes (int64, shape (1,)):\n[{predicted[0]}]" in printed

    status, text = http(address.rest, "/v1/models/photos_cnn/metadata")
    signatures = json.loads(text)["metadata"]["signature_def"]["signature_def"]
    assert {export.PREDICT_SIGNATURE, export.BYTES_SIGNATURE} <= set(signatures)

    code = optimize.main([str(run_dir), "--variants", "float32,int8", "--set", "edge.qat=false"])
    assert code == 0
    assert (run_dir / runs.EDGE_DIR / "model_int8.tflite").stat().st_size > 0
