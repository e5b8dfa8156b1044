"""End to end: KerasTuner searches the digits config on validation only, resumes, and its best
config trains again to the accuracy the search saw; chief and worker share one search."""

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photo_stages import CONFIG as PHOTOS_CONFIG
from ports import free_port

from tfmodel import runs
from tfmodel.config import load_config
from tfmodel.data import Splits
from tfmodel.tune import report
from tfmodel.tune.cli import main, tune

SPACE = (
    "{optimizer.learning_rate: {min: 0.02, max: 0.3, log: true}, model.hidden_units: [[8], [16]]}"
)


def tiny_config(tune_dir: Path, trials: int = 3):
    """Digits, 2 epochs of an 8- or 16-unit MLP per trial: a trial takes a few seconds."""
    return load_config(
        None,
        [
            f"tune.dir={tune_dir}",
            f"tune.max_trials={trials}",
            f"tune.space={SPACE}",
            "training.epochs=2",
            "training.verbose=0",
        ],
    )


class WatchedSplits(Splits):
    """Splits that log every read of the test arrays, and whether the search was over then."""

    searching = False  # from loading the data until the tuner's search returns
    test_reads: list[bool] = []

    def __getattribute__(self, name):
        if name in ("x_test", "y_test"):
            WatchedSplits.test_reads.append(WatchedSplits.searching)
        return super().__getattribute__(name)


def watch_search(monkeypatch):
    """Instrument the data source and the tuner's search: a test-split read before the search
    has ended (while handing data to the tuner, or in a trial) is logged as True."""
    from tfmodel import data
    from tfmodel.tune import search

    real_load, real_make = data.load_splits, search.make_tuner

    def load_splits(*args):
        splits = real_load(*args)
        fields = {f.name: getattr(splits, f.name) for f in dataclasses.fields(Splits)}
        WatchedSplits.searching = True
        return WatchedSplits(**fields)

    def make_tuner(*args, **kwargs):
        tuner = real_make(*args, **kwargs)
        real_search = tuner.search

        def search(*a, **k):
            try:
                return real_search(*a, **k)
            finally:
                WatchedSplits.searching = False

        tuner.search = search
        return tuner

    WatchedSplits.test_reads = []
    monkeypatch.setattr(data, "load_splits", load_splits)
    monkeypatch.setattr(search, "make_tuner", make_tuner)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One 3-trial random search, with the test split's reads logged."""
    tune_dir = tmp_path_factory.mktemp("tuning")
    with pytest.MonkeyPatch.context() as patch:
        watch_search(patch)
        result = tune(tiny_config(tune_dir))
        return result, list(WatchedSplits.test_reads)


@pytest.mark.slow
def test_search_finishes_and_reads_the_test_split_only_after(searched):
    result, test_reads = searched
    assert len(result.rows) == 3
    assert test_reads and not any(test_reads)  # read, but only once the search was over
    assert 0.0 <= result.test_accuracy <= 1.0
    assert result.best_val_accuracy == max(row["val_accuracy"] for row in result.rows)
    with (result.project_dir / report.TRIALS_CSV).open() as f:
        assert [row["trial"] for row in csv.DictReader(f)] == ["0", "1", "2"]
    assert (result.project_dir / report.TRIALS_PLOT).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_best_config_trains_again_to_the_same_validation_accuracy(searched, tmp_path):
    from tfmodel.train import train

    result, _ = searched
    header = result.best_config.read_text().splitlines()[0]
    assert header.startswith(f"# python -m tfmodel.train --config {result.best_config}")
    best = next(row for row in result.rows if row["trial"] == result.best_trial)
    config = load_config(result.best_config, [f"output.dir={tmp_path}", "export.enabled=false"])
    assert config.model.hidden_units == best["model.hidden_units"]
    assert config.optimizer.learning_rate == best["optimizer.learning_rate"]
    run = train(config)
    with (run.run_dir / runs.HISTORY_FILE).open() as f:
        val = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
    assert max(val) == pytest.approx(result.best_val_accuracy, abs=0.01)


@pytest.mark.slow
def test_interrupted_search_resumes_without_repeating_finished_trials(tmp_path, monkeypatch):
    from tfmodel.tune.search import ConfigHyperModel

    fits = []
    real_fit = ConfigHyperModel.fit

    def fit(self, hp, model, *args, **kwargs):
        trial = next(c.trial for c in kwargs["callbacks"] if hasattr(c, "trial"))
        fits.append(trial.trial_id)
        if fits == ["0", "1"]:
            raise KeyboardInterrupt  # Ctrl-C during the second trial
        return real_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(ConfigHyperModel, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        tune(tiny_config(tmp_path))
    fits.clear()
    result = tune(tiny_config(tmp_path))
    assert fits == ["1", "2"]  # trial 0 kept, the interrupted one run again, then the last
    assert [row["trial"] for row in result.rows] == ["0", "1", "2"]


def test_cli_errors_are_short(tmp_path, capsys):
    assert main(["--set", "tune.space={}", "--output", str(tmp_path)]) == 2
    assert "tune.space is empty" in capsys.readouterr().err
    assert main(["--oracle", "no-port", "--tuner-id", "chief"]) == 2
    assert "--oracle 'no-port' must be HOST:PORT" in capsys.readouterr().err
    assert main(["--oracle", "127.0.0.1:1"]) == 2
    assert "--oracle needs --tuner-id" in capsys.readouterr().err
    assert main(["--set", "data.validation_split=0", "--output", str(tmp_path)]) == 2
    assert "validation split, which is empty" in capsys.readouterr().err
    assert main(["--set", "model.freeze_epochs=2", "--output", str(tmp_path)]) == 2
    assert "cannot take model.freeze_epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_chief_and_worker_processes_share_one_search(tmp_path):
    """KerasTuner's own distributed mode: the chief serves the oracle, the worker runs trials."""
    args = [
        sys.executable,
        "-m",
        "tfmodel.tune",
        "--trials",
        "2",
        "--epochs",
        "1",
        "--output",
        str(tmp_path),
        "--set",
        f"tune.space={SPACE}",
        "--set",
        "training.verbose=0",
        "--oracle",
        f"127.0.0.1:{free_port()}",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = {
        role: subprocess.Popen(
            [*args, "--tuner-id", role],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for role in ("chief", "worker0")
    }
    try:
        outputs = {role: p.communicate(timeout=420)[0] for role, p in procs.items()}
    finally:
        for p in procs.values():
            p.kill()
    assert procs["worker0"].returncode == 0, outputs["worker0"]
    assert procs["chief"].returncode == 0, outputs["chief"]
    assert "worker worker0: no trials left" in outputs["worker0"]
    assert "2 finished (random)" in outputs["chief"] and "test accuracy" in outputs["chief"]
    assert sorted(p.name for p in (tmp_path / "digits_mlp").glob("trial_*")) == [
        "trial_0",
        "trial_1",
    ]


@pytest.mark.slow
def test_a_photo_folder_is_tuned_on_streamed_batches(photo_run, tmp_path, no_whole_splits):
    space = "tune.space={optimizer.learning_rate: [0.003, 0.01]}"
    tuning = [f"tune.dir={tmp_path}", "tune.max_trials=1", space]
    result = tune(load_config(PHOTOS_CONFIG, [*photo_run.overrides, *tuning]))
    assert len(result.rows) == 1 and 0.0 <= result.test_accuracy <= 1.0
