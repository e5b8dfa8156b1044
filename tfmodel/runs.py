"""The run folder: where one training run keeps everything it produced, so it can be repeated.

`<output.dir>/<output.name>-<timestamp>/` holds `config.yaml`, `model.keras`, `metrics.json`,
`history.csv`, `curves.png`, `logs/` (TensorBoard), `checkpoints/` and, while training is under
way, `backup/` (BackupAndRestore). A folder that still has `backup/` is unfinished: running the same
command again resumes it. `<output.dir>/latest` points at the newest finished run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tfmodel.config import Config, config_to_dict, load_config, save_config
from tfmodel.errors import UserError

BACKUP = "backup"
CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"


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
    """The newest run of this config whose training did not finish (its backup is still there)."""
    base = Path(config.output.dir)
    wanted = config_to_dict(config)
    candidates = sorted(base.glob(f"{config.output.name}-*/{BACKUP}"), reverse=True)
    for backup in candidates:
        run_dir = backup.parent
        config_path = run_dir / CONFIG_FILE
        if (run_dir / METRICS_FILE).exists() or not config_path.is_file():
            continue
        if config_to_dict(load_config(config_path)) == wanted:
            return run_dir
    return None


def start_run(run_dir: Path, config: Config) -> None:
    """Create the run folder and record the resolved config in it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / CONFIG_FILE)


def finish_run(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write `metrics.json` and the loss/accuracy plot, and point `latest` at this run."""
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    plot_history(run_dir / HISTORY_FILE, run_dir / CURVES_FILE)
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


def plot_history(history_csv: Path, png: Path) -> None:
    """Loss and accuracy per epoch, train and validation side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with history_csv.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
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
    return load_config(run_dir / CONFIG_FILE), load_model(model_path)
