"""Every CLI given a bad file: one line naming the file and the problem, exit 2, no traceback.

`--debug` shows the traceback instead. The CLIs run in-process; the edge folder is the session's.
Files already written (an earlier export, the edge models) are still there afterwards.
"""

import shutil

import numpy as np
import pytest

from edge import optimize as edge_optimize
from edge.device import benchmark as edge_benchmark
from edge.device import predict as edge_predict
from tfmodel import train as tfmodel_train
from tfmodel.config import Config, save_config
from tfmodel.export import cli as tfmodel_export


def assert_one_line_error(capsys, main, argv, *named: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for text in named:
        assert text in err, err
    with pytest.raises(Exception):  # noqa: B017 (each CLI's own error class)
        main([*argv, "--debug"])


@pytest.fixture
def bad_edge_files(edge_dir, tmp_path):
    folder = tmp_path / "edge"
    shutil.copytree(edge_dir, folder)
    (folder / "truncated.tflite").write_bytes((folder / "model_float32.tflite").read_bytes()[:3000])
    (folder / "random.tflite").write_bytes(np.random.default_rng(0).bytes(5000))
    np.save(folder / "wrong_shape.npy", np.zeros((3, 5), np.float32))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return folder


@pytest.mark.parametrize("tool", [edge_predict.main, edge_benchmark.main])
@pytest.mark.parametrize("model", ["truncated.tflite", "random.tflite"])
def test_broken_tflite_files(tool, model, bad_edge_files, capsys):
    path = bad_edge_files / model
    argv = [str(path), str(bad_edge_files / "wrong_shape.npy"), "--no-verify"]
    if tool is edge_benchmark.main:
        argv = [str(path), "--no-verify", "--runs", "1", "--warmup", "0"]
    assert_one_line_error(capsys, tool, argv, str(path), "not a valid .tflite")


@pytest.mark.parametrize(
    "name, problem",
    [("wrong_shape.npy", "holds an array shaped (3, 5)"), ("corrupt.png", "not a readable image")],
)
def test_bad_inputs_to_edge_predict(name, problem, bad_edge_files, capsys):
    model, data = bad_edge_files / "model_float32.tflite", bad_edge_files / name
    assert_one_line_error(capsys, edge_predict.main, [str(model), str(data)], str(data), problem)
    assert (bad_edge_files / "model_float32.tflite").stat().st_size > 0


@pytest.fixture
def broken_run(tmp_path):
    """A run folder whose model.keras was cut short (a disk filled up while saving)."""
    run = tmp_path / "run"
    run.mkdir()
    save_config(Config(), run / "config.yaml")
    (run / "model.keras").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    return run


def test_a_corrupt_model_keras(broken_run, capsys):
    model = str(broken_run / "model.keras")
    assert_one_line_error(capsys, tfmodel_export.main, [str(broken_run)], model, "not a readable")
    assert_one_line_error(
        capsys, edge_optimize.main, [str(broken_run)], model, "not a readable Keras model"
    )


@pytest.mark.parametrize("unwritable", ["/proc/no-such-folder", "/dev/null/sub"])
def test_unwritable_output_folders_are_refused_before_any_work(unwritable, broken_run, capsys):
    argv = ["--output", unwritable, "--epochs", "1"]
    assert_one_line_error(capsys, tfmodel_train.main, argv, unwritable, "cannot be written")
    argv = [str(broken_run), "--output", unwritable]  # refused before the model is even read
    assert_one_line_error(capsys, edge_optimize.main, argv, unwritable, "cannot be written")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("training:\n  epochs: abc\n", "'training.epochs' must be an integer"),
        ("model: [1, 2\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_configs_with_wrong_types_or_syntax(text, problem, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    argv = ["--config", str(config), "--output", str(tmp_path / "runs")]
    assert_one_line_error(capsys, tfmodel_train.main, argv, problem)
    assert not (tmp_path / "runs").exists()  # nothing written for a rejected config
