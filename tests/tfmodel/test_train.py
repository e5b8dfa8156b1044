"""End to end: the default recipe trains on the embedded digits and leaves a complete run folder."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from photos import write_photo_folder

from tfmodel import optimizers, runs
from tfmodel.config import load_config
from tfmodel.data import load_splits
from tfmodel.train import FLAG_KEYS, main, overrides_from_flags, parse_args, train


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One full run of configs/digits_mlp.yaml (the `make demo` job), shared by the checks below."""
    out = tmp_path_factory.mktemp("runs")
    config = load_config(None, [f"output.dir={out}", "training.verbose=0"])
    return config, train(config)


@pytest.mark.slow
def test_default_recipe_reaches_the_target_accuracy(default_run):
    _, result = default_run
    assert result.n_test == 360
    assert result.test_accuracy >= 0.96


@pytest.mark.slow
def test_run_folder_holds_everything_needed_to_repeat_and_reuse_the_run(default_run):
    config, result = default_run
    run_dir = result.run_dir
    assert run_dir.name.startswith("digits_mlp-")
    assert (run_dir.parent / runs.LATEST_LINK).resolve() == run_dir.resolve()
    assert load_config(run_dir / runs.CONFIG_FILE) == config
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    assert metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    with (run_dir / runs.HISTORY_FILE).open() as f:
        assert len(list(csv.DictReader(f))) == config.training.epochs
    assert (run_dir / runs.CURVES_FILE).read_bytes()[:4] == b"\x89PNG"
    assert list((run_dir / runs.LOGS_DIR).rglob("events.out.tfevents.*"))
    assert not (run_dir / runs.BACKUP_DIR).exists()  # finished: nothing left to resume

    loaded_config, model = runs.load_run(run_dir)
    x = load_splits(loaded_config.data, loaded_config.training.seed).x_test[:16]
    np.testing.assert_allclose(model.predict(x, verbose=0), result.model.predict(x, verbose=0))
    assert type(model.optimizer) in optimizers.CUSTOM_OBJECTS.values()


@pytest.mark.slow
def test_metrics_time_each_stage_and_the_epochs_fit_within_the_fit(default_run):
    config, result = default_run
    metrics = json.loads((result.run_dir / runs.METRICS_FILE).read_text())
    stages = ["listing", "first_epoch", "later_epochs_mean", "export"]
    seconds = {stage: metrics[f"{stage}_seconds"] for stage in stages}
    assert all(value > 0 for value in seconds.values()), seconds
    epochs = seconds["first_epoch"] + seconds["later_epochs_mean"] * (config.training.epochs - 1)
    assert epochs <= metrics["train_seconds_this_session"] + 0.05  # each rounded to 0.01 s


@pytest.mark.slow
def test_the_penalty_is_part_of_the_training_loss(default_run):
    _, result = default_run
    assert float(sum(result.model.losses)) > 0


def test_cli_rejects_a_bad_key_with_status_2_and_the_closest_match(capsys):
    assert main(["--set", "optimizer.lerning_rate=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'optimizer.lerning_rate'" in err and "learning_rate" in err


def test_cli_flags_override_the_config(capsys):
    assert main(["--epochs", "1", "--strategy", "gpuu"]) == 2
    assert (
        "allowed values are auto, cpu, gpu, tpu, mirrored, multi_worker" in capsys.readouterr().err
    )


def test_help_shows_examples():
    out = subprocess.run(
        [sys.executable, "-m", "tfmodel.train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--set" in out and "examples:" in out


def test_common_flags_become_config_values():
    args = parse_args(
        [
            "--set",
            "optimizer.name=adam",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--data-dir",
            "/data/tfds",
            "--strategy",
            "cpu",
            "--no-resume",
        ]
    )
    config = load_config(None, overrides_from_flags(args, FLAG_KEYS))
    assert config.optimizer.name == "adam"
    assert (config.training.epochs, config.data.batch_size) == (3, 8)
    assert config.data.data_dir == "/data/tfds"
    assert config.training.strategy == "cpu" and config.training.resume is False


def test_worker_hosts_without_task_index_is_refused(capsys):
    assert main(["--worker-hosts", "127.0.0.1:1,127.0.0.1:2"]) == 2
    assert "--worker-hosts needs --task-index" in capsys.readouterr().err


def test_a_rejected_run_leaves_no_run_folder(tmp_path, capsys):
    assert main(["--epochs", "-1", "--output", str(tmp_path), "--set", "export.enabled=false"]) == 2
    assert "epochs is -1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_run_resumes_with_other_export_settings_but_not_other_training(tmp_path):
    """A run stopped at its export (the version exists, the disk is full) resumes after the fix
    without training again; a change that alters training starts a new run."""
    config = load_config(None, [f"output.dir={tmp_path}"])
    run_dir = tmp_path / f"{config.output.name}-20261130-000000"
    runs.start_run(run_dir, config)
    (run_dir / runs.BACKUP_DIR).mkdir()
    assert runs.find_unfinished_run(config) == run_dir
    fixed_export = load_config(None, [f"output.dir={tmp_path}", "export.version=7"])
    assert runs.find_unfinished_run(fixed_export) == run_dir
    other_training = load_config(None, [f"output.dir={tmp_path}", "training.seed=7"])
    assert runs.find_unfinished_run(other_training) is None
    (run_dir / runs.METRICS_FILE).write_text("{}")  # recorded: finished
    assert runs.find_unfinished_run(config) is None


@pytest.mark.slow
def test_a_photo_folder_on_the_default_recipe_trains_and_is_named_after_it(tmp_path, capsys):
    """The default config's data and model replaced by --set: the run folder and the export are
    named after the photos and the model, and files that are not images do not stop the run."""
    write_photo_folder(tmp_path / "holiday", per_class=6)
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", "notes.txt"):
        (tmp_path / "holiday" / "dark" / name).write_bytes(b"\x00\x00\x00\x01Bud1")
    settings = [
        f"data.source=images:{tmp_path / 'holiday'}",
        "model.name=cnn",
        "data.image_size=[8,8]",
        "training.verbose=0",
        "export.warmup_records=1",
    ]
    argv = ["--epochs", "1", "--output", str(tmp_path / "runs")]
    assert main([*argv, *(arg for s in settings for arg in ("--set", s))]) == 0
    (run_dir,) = (tmp_path / "runs").glob("photos_cnn-*")
    assert list((run_dir / runs.EXPORT_DIR / "photos_cnn").glob("*/saved_model.pb"))
    not_images = json.loads((run_dir / runs.SPLIT_SUMMARY).read_text())["not_images"]
    assert not_images == ["dark/.DS_Store", "dark/Thumbs.db", "dark/desktop.ini", "dark/notes.txt"]
    assert "left out 4 file(s) that are not images by name" in capsys.readouterr().out
