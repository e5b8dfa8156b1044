"""The run folder: the contract between the stages. One training run keeps everything in it.

    <output.dir>/<output.name>-<timestamp>/     one run (`new_run_dir`)
        config.yaml          train writes the resolved config; every later stage reads it
        model.keras          train writes the trained model; export and edge.optimize read it
        metrics.json         train: test accuracy, stage seconds, strategy; marks the run finished
        history.csv          train: loss and accuracy per epoch (CSVLogger), plotted as curves.png;
                             with transfer learning also the `phase` (frozen, fine_tune)
        curves.png           train: the loss/accuracy plot
        logs/                train: TensorBoard events
        checkpoints/         train: best.weights.h5, the weights with the best monitored loss
        backup/              train, while under way (BackupAndRestore); gone once finished
            fine_tune/       the fine-tuning phase's own backup (`tfmodel.models.transfer`)
        confusion.json       train: the test split's confusion matrix (rows true), drawn as
        confusion.png          confusion.png; the model card and tfmodel.explain read it
        model_card.md        train, rewritten by edge.optimize: data, model, metrics, export
                             signatures, edge variants, the command that repeats the run
        export/              tfmodel.export (and train, unless export.enabled is off): the
                             SavedModels for TF Serving, <model>/<version>/ and models.config
                             (layout in `tfmodel.export.saved_model`); serving.demo and
                             serving.server read it
        blessing.json        serving.publish: the publish gate's verdict and figures
                             (`serving.publish.gate`)
        edge/                edge.optimize: model_<variant>.tflite, model.json, labels.txt,
                             samples.npz, report.* and analysis/ (named in `edge.device.runtime`,
                             `edge.device.manifest`, `edge.report`); edge.device.predict and
                             edge.device.benchmark read it;
                             the model card reads report.json
        explain/             tfmodel.explain: integrated_gradients.png, confusion.png
        split.csv            train, for an image folder: every file, its class and split
        split.json           train, for an image folder: counts per class and split, skipped
                             bad files, files not images by name (`tfmodel.data.records`)
        augment.png          train, with data.augment: a grid of augmented training images
    <output.dir>/latest      a link to the newest finished run

A folder that still has `backup/` is unfinished: running the same command again resumes it.
The sub-folder and file names are the constants below; every stage imports them from here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tfmodel.config import Config, config_to_dict, load_config, save_config
from tfmodel.errors import UserError
from tfmodel.files import write_text_atomically

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
LOGS_DIR = "logs"
CHECKPOINTS_DIR = "checkpoints"
BEST_WEIGHTS_FILE = "best.weights.h5"
BACKUP_DIR = "backup"
FINE_TUNE_BACKUP_DIR = "fine_tune"  # inside BACKUP_DIR
PHASE_COLUMN = "phase"  # history.csv: a transfer-learning run's phase (`tfmodel.models.transfer`)
EXPORT_DIR = "export"
EDGE_DIR = "edge"
BLESSING_FILE = "blessing.json"
LATEST_LINK = "latest"
CONFUSION_FILE = "confusion.json"
CONFUSION_PLOT = "confusion.png"
MODEL_CARD_FILE = "model_card.md"
EDGE_REPORT_FILE = "report.json"  # inside EDGE_DIR; named here because the model card reads it
EXPLAIN_DIR = "explain"
SPLIT_FILES = "split.csv"
SPLIT_SUMMARY = "split.json"
AUGMENT_PLOT = "augment.png"


def new_run_dir(config: Config) -> Path:
    """A fresh `<dir>/<name>-<timestamp>` folder, made unique if two runs start at once."""
    base = Path(config.output.dir)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = base / f"{config.output.name}-{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = base / f"{config.output.name}-{stamp}-{suffix}"
    return run_dir


def find_unfinished_run(config: Config) -> Path | None:
    """The newest run of this config whose training did not finish (its backup is still there).

    The export section is not compared: it does not change training, so a run stopped at its
    export (a version that exists, a full disk) resumes with the fixed setting, training no epoch.
    """
    base = Path(config.output.dir)
    wanted = _training_settings(config)
    candidates = sorted(base.glob(f"{config.output.name}-*/{BACKUP_DIR}"), reverse=True)
    for backup in candidates:
        run_dir = backup.parent
        config_path = run_dir / CONFIG_FILE
        if (run_dir / METRICS_FILE).exists() or not config_path.is_file():
            continue
        if _training_settings(load_config(config_path)) == wanted:
            return run_dir
    return None


def _training_settings(config: Config) -> dict[str, Any]:
    return {key: value for key, value in config_to_dict(config).items() if key != "export"}


MIN_FREE_BYTES = 16 * 2**20  # less than this left on the disk: refuse before writing anything


def writable_dir(path: Path, what: str) -> Path:
    """Creates `path` if needed and checks a file can be written there, before any long work.

    A UserError names the folder and the problem (cannot create, not writable, disk full), so a
    run fails in its first second rather than after hours of training.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path) as probe:
            probe.write(b"x")
            probe.flush()
        free = shutil.disk_usage(path).free
    except OSError as err:
        raise UserError(
            f"{what} {path} cannot be written ({err.strerror}); choose another folder"
        ) from None
    if free < MIN_FREE_BYTES:
        raise UserError(
            f"{what} {path} is on a full disk ({free // 2**20} MiB free); free some space first"
        )
    return path


def start_run(run_dir: Path, config: Config) -> None:
    """Create the run folder (checked writable) and record the resolved config in it."""
    writable_dir(run_dir, "run folder")
    save_config(config, run_dir / CONFIG_FILE)


def finish_run(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write `metrics.json` and the loss/accuracy plot, and point `latest` at this run.

    `metrics.json` marks the run finished (`find_unfinished_run` skips it), so it is written
    whole before the backup goes: a kill in between leaves a finished run, never one whose backup
    is half deleted or gone without a record.
    """
    write_metrics(run_dir, metrics)
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    plot_history(run_dir / HISTORY_FILE, run_dir / CURVES_FILE)
    latest = run_dir.parent / LATEST_LINK
    tmp = run_dir.parent / f".{LATEST_LINK}-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """`metrics.json`, written whole (a reader never sees half of it)."""
    write_text_atomically(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def last_epoch_row(run_dir: Path) -> dict[str, str]:
    """history.csv's last row (column → value as written), {} before any epoch."""
    rows = _history_rows(run_dir / HISTORY_FILE)
    return rows[-1] if rows else {}


def _history_rows(history_csv: Path) -> list[dict[str, str]]:
    """history.csv's rows without its empty cells: Keras' CSVLogger writes `NA` for a metric an
    epoch lacks (every val_* column of a run with no validation split)."""
    with history_csv.open() as f:
        return [{k: v for k, v in row.items() if v not in ("", "NA")} for row in csv.DictReader(f)]


def plot_history(history_csv: Path, png: Path) -> None:
    """Loss and accuracy per epoch, train and validation side by side, as a PNG; a dashed line
    marks where a transfer-learning run began fine-tuning."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _history_rows(history_csv)
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    first_phase = rows[0].get(PHASE_COLUMN)
    tuned = [e for e, r in zip(epochs, rows, strict=True) if r.get(PHASE_COLUMN) != first_phase]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        if tuned:
            ax.axvline(tuned[0] - 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def load_run(run_dir: str | Path) -> tuple[Config, Any]:
    """The resolved config and trained Keras model of a finished run folder."""
    from tfmodel.models import load_model

    run_dir = Path(run_dir)
    model_path = run_dir / MODEL_FILE
    if not model_path.is_file():
        raise UserError(
            f"{run_dir} is not a finished run folder (no {MODEL_FILE}); "
            "pass a folder written by `python -m tfmodel.train`, e.g. runs/latest"
        )
    config = load_config(run_dir / CONFIG_FILE)
    try:
        model = load_model(model_path)
    except (OSError, ValueError, TypeError, KeyError) as err:  # truncated, foreign or corrupt
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"{model_path} is not a readable Keras model ({problem}); "
            "train again or pass another run folder"
        ) from None
    return config, model
