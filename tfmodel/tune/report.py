"""What a search leaves behind: the trials as a table and CSV, objective vs trial, the best config.

The best config is a complete config file, headed like the ones in `configs/` by the command that
trains it and the validation accuracy its trial reached.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tfmodel.config import Config, save_config
from tfmodel.tune.space import Dimension

TRIALS_CSV = "trials.csv"
TRIALS_PLOT = "trials.png"
BEST_CONFIG = "best_config.yaml"


def trial_rows(trials: list[Any], dimensions: list[Dimension]) -> list[dict[str, Any]]:
    """One row per trial: its id, each tuned key's config value, epochs and the objective."""
    rows = []
    for trial in trials:
        values = trial.hyperparameters.values
        row: dict[str, Any] = {"trial": trial.trial_id}
        for d in dimensions:
            row[d.key] = d.choices[values[d.key]] if d.choices is not None else values[d.key]
        if "tuner/epochs" in values:  # Hyperband's budget for this trial
            row["epochs"] = values["tuner/epochs"]
        row["best epoch"] = trial.best_step + 1
        row["val_accuracy"] = trial.score
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned plain-text table, floats shortened."""
    if not rows:
        return "no finished trials"
    cells = [[_short(v) for v in row.values()] for row in rows]
    header = list(rows[0])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [header, *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def write_trials_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)


def plot_trials(rows: list[dict[str, Any]], png: Path, algorithm: str) -> None:
    """Validation accuracy of each trial in order, with the best so far as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [row["val_accuracy"] for row in rows]
    order = range(len(scores))
    best = [max(scores[: i + 1]) for i in order]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(order, scores, "o", label="trial")
    ax.step(order, best, where="post", color="C1", label="best so far")
    ax.set_xticks(order, [row["trial"] for row in rows], fontsize=8)
    ax.set_xlabel("trial (in the order run)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{algorithm} search: {len(scores)} trials, best {max(scores, default=0):.4f}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def write_best_config(config: Config, path: Path, trial_id: str, val_accuracy: float) -> None:
    """The best trial's full config, headed by the command that trains it."""
    save_config(config, path)
    header = (
        f"# python -m tfmodel.train --config {path}  → validation accuracy {val_accuracy:.4f} "
        f"in tuning trial {trial_id}\n"
        "# Written by python -m tfmodel.tune: the base config with the best trial's values.\n"
    )
    path.write_text(header + path.read_text())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
