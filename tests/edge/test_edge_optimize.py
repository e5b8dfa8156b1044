"""The edge stage's outputs: model.json, labels, samples, the report, and its CLI on a run."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge import optimize  # noqa: E402
from edge.convert import softmax  # noqa: E402
from edge.device.runtime import EdgeModel  # noqa: E402
from tfmodel.config import save_config  # noqa: E402
from tfmodel.runs import (  # noqa: E402
    CONFIG_FILE,
    EDGE_DIR,
    METRICS_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
)


def test_manifest_describes_every_file(digits_edge, digits_splits, digits_config):
    out = digits_edge.out_dir
    manifest = json.loads((out / "model.json").read_text())
    assert manifest == digits_edge.manifest
    assert manifest["model"] == {"name": digits_config.output.name, "version": out.parent.name}
    expected = {f"model_{v}.tflite" for v in optimize.resolve_variants(digits_config)}
    assert set(manifest["files"]) == expected == {p.name for p in out.glob("*.tflite")}
    for name, entry in manifest["files"].items():
        content = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["bytes"] == len(content)
    assert manifest["files"]["model_int8.tflite"]["input"]["dtype"] == "float32"  # int8 inside
    assert manifest["files"]["model_int8_io.tflite"]["input"]["dtype"] == "int8"
    assert manifest["files"]["model_float32.tflite"]["input"]["dtype"] == "float32"
    assert manifest["input"]["name"] == digits_config.model.input_name
    assert manifest["input"]["shape"] == [-1, 8, 8, 1]
    assert manifest["input"]["pixel_max"] == digits_splits.pixel_max == 16.0
    assert manifest["labels"] == digits_splits.class_names
    assert (out / "labels.txt").read_text().splitlines() == digits_splits.class_names


def test_samples_hold_test_examples_and_keras_answers(digits_edge, digits_splits, digits_model):
    with np.load(digits_edge.out_dir / "samples.npz") as samples:
        x, y, probabilities = samples["x"], samples["y"], samples["probabilities"]
    n = len(x)
    assert n == min(optimize.SAMPLE_COUNT, len(digits_splits.x_test))
    np.testing.assert_array_equal(x, digits_splits.x_test[:n])
    np.testing.assert_array_equal(y, digits_splits.y_test[:n])
    logits = digits_model(x, training=False).numpy()
    np.testing.assert_allclose(probabilities, softmax(logits), atol=1e-6)


def test_report_files(digits_edge):
    out = digits_edge.out_dir
    report = json.loads((out / "report.json").read_text())
    variants = [r["variant"] for r in report["rows"]]
    assert variants == ["keras", "float32", "dynamic", "float16", "int8", "int8_io", "pruned_int8"]
    assert report["interpreter"].startswith("ai_edge_litert")
    for r in report["rows"][1:]:
        assert r["bytes"] == (out / r["file"]).stat().st_size
        assert 0 < r["gzip_bytes"] < r["bytes"]
        assert 0 < r["p50_ms"] <= r["p99_ms"]
        assert r["gpu_compatible"] is True
        assert "GPU delegate" in (out / "analysis" / f"model_{r['variant']}.txt").read_text()
    markdown = (out / "report.md").read_text()
    assert "| variant |" in markdown and "| pruned_int8 |" in markdown and "kept" in markdown
    assert (out / "size_vs_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_step_is_timed(digits_edge):
    steps = ["fine-tuning (pruning, QAT)", "conversion", "model.json, samples", "measuring"]
    assert list(digits_edge.seconds) == [*steps, "report"]
    assert all(seconds > 0 for seconds in digits_edge.seconds.values())


def test_variants_are_checked_and_float32_always_first(digits_config):
    config = copy.deepcopy(digits_config)
    config.edge.variants = ["int8", "float16"]
    config.edge.qat = True
    assert optimize.resolve_variants(config) == ["float32", "int8", "float16", "qat_int8"]
    config.edge.variants = ["int4"]
    with pytest.raises(optimize.UserError, match="unknown 'int4'.*float32, dynamic"):
        optimize.resolve_variants(config)


@pytest.mark.parametrize("count", [0, -5, 2.5, True])
def test_calibration_examples_must_be_a_positive_whole_number(digits_config, count):
    config = copy.deepcopy(digits_config)
    config.edge.calibration_examples = count
    with pytest.raises(optimize.UserError, match="edge.calibration_examples is .*positive whole"):
        optimize.resolve_variants(config)


@pytest.fixture(scope="module")
def run_dir(digits_model, digits_config, tmp_path_factory):
    """A run folder as training writes it: config.yaml and model.keras."""
    run = tmp_path_factory.mktemp("runs") / "digits_mlp-1"
    run.mkdir()
    save_config(digits_config, run / CONFIG_FILE)
    digits_model.save(run / MODEL_FILE)
    return run


@pytest.mark.slow
def test_cli_on_a_run_folder(run_dir, capsys):
    (run_dir / EDGE_DIR).mkdir()
    (run_dir / EDGE_DIR / "model_dynamic.tflite").write_bytes(b"stale, from an earlier run")
    code = optimize.main([str(run_dir), "--variants", "float32,int8", "--set", "edge.qat=false"])
    assert code == 0
    out = run_dir / EDGE_DIR
    assert sorted(p.name for p in out.glob("*.tflite")) == [
        "model_float32.tflite",
        "model_int8.tflite",
    ]
    table = capsys.readouterr().out
    assert "| keras |" in table and "| int8 |" in table
    report = json.loads((out / "report.json").read_text())
    keras_row = report["rows"][0]
    assert keras_row["bytes"] == (run_dir / MODEL_FILE).stat().st_size
    EdgeModel(out / "model_int8.tflite")  # checksums match the files on disk


@pytest.mark.slow
def test_cli_rewrites_the_model_card_of_a_trained_run(run_dir):
    metrics = {"test_accuracy": 0.9611, "test_loss": 0.1234, "n_test": 360}
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics))
    assert optimize.main([str(run_dir), "--variants", "float32", "--set", "edge.qat=false"]) == 0
    report = json.loads((run_dir / EDGE_DIR / "report.json").read_text())
    card = (run_dir / MODEL_CARD_FILE).read_text()
    assert "0.9611" in card
    assert report["table"] in card  # the edge report's own table, as report.md shows it
    for row in report["rows"]:
        line = next(line for line in card.splitlines() if line.startswith(f"| {row['variant']} |"))
        assert f"{row['test_accuracy']:.4f}" in line


@pytest.mark.slow
def test_cli_encrypts_then_signs_the_files(run_dir, tmp_path, capsys):
    from edge.device.signature import verify_folder
    from edge.encrypt import generate_key
    from tfmodel.sign import generate_key_pair

    generate_key(tmp_path / "enc.key")
    generate_key_pair(tmp_path / "s.key", tmp_path / "s.pub")
    out = tmp_path / "edge"
    flags = ["--encrypt-key", str(tmp_path / "enc.key"), "--sign-key", str(tmp_path / "s.key")]
    args = [str(run_dir), "--variants", "float32", "--set", "edge.qat=false", "--output", str(out)]
    assert optimize.main([*args, *flags]) == 0
    assert "encrypted" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("model_*")) == ["model_float32.tflite.enc"]
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["model"] == {"name": "digits_mlp", "version": run_dir.name}
    verify_folder(out, tmp_path / "s.pub")  # model.sig lists the encrypted bytes
    model = EdgeModel(
        out / "model_float32.tflite.enc",
        verify_key=tmp_path / "s.pub",
        decrypt_key=tmp_path / "enc.key",
    )
    assert model.input_dtype == "float32"
    assert optimize.main([*args, "--encrypt-key", str(tmp_path / "absent.key")]) == 2
    assert "absent.key cannot be read" in capsys.readouterr().err


def test_cli_errors_are_short(run_dir, tmp_path, capsys):
    assert optimize.main([str(tmp_path / "missing")]) == 2
    assert "is no model; give a run folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not ours")
    assert optimize.main([str(run_dir), "--variants", "int4", "--output", str(tmp_path)]) == 2
    assert "edge.variants has unknown 'int4'" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").exists()


@pytest.mark.slow
def test_quantization_aware_training_gives_an_int8_file(
    digits_model, digits_splits, digits_config, tmp_path
):
    from edge.convert import calibration_examples, convert_model
    from edge.qat import quantize_aware_finetune

    config = copy.deepcopy(digits_config)
    config.edge.prune_epochs = 2
    qat_model = quantize_aware_finetune(digits_model, digits_splits, config)
    path = tmp_path / "model_qat_int8.tflite"
    path.write_bytes(
        convert_model(qat_model, "pixels", "int8", calibration_examples(digits_splits.x_train, 100))
    )
    model = EdgeModel(path, verify=False)
    assert model.input_dtype == "float32" and model.integer_output()["dtype"] == "int8"
    x, y = digits_splits.x_test, digits_splits.y_test
    float_accuracy = np.mean(digits_model(x, training=False).numpy().argmax(axis=1) == y)
    assert np.mean(model.predict(x).argmax(axis=1) == y) >= float_accuracy - 0.02
