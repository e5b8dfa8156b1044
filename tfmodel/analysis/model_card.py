"""`model_card.md`: one page telling a reviewer what a run folder ships and how it was made.

Written from what the run folder holds on disk — `config.yaml`, `metrics.json`, the confusion
matrix, the serving export's signatures and, once `python -m edge.optimize` has run, the edge
report — so training and the edge stage both (re)write it by calling `write_model_card(run_dir)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tfmodel import runs
from tfmodel.analysis.confusion import (
    Confusion,
    load_confusion,
    plot_confusion,
    predict_confusion,
    save_confusion,
)
from tfmodel.config import Config, load_config


def write_test_review(run_dir: Path, model: Any, splits: Any) -> Path:
    """Training's last word: the test split's confusion matrix (JSON and PNG), then the card."""
    confusion = predict_confusion(model, splits, "test")
    save_confusion(confusion, run_dir / runs.CONFUSION_FILE)
    plot_confusion(confusion, run_dir / runs.CONFUSION_PLOT, "test split")
    return write_model_card(run_dir)


def write_model_card(run_dir: str | Path, edge_dir: str | Path | None = None) -> Path:
    """Write `<run_dir>/model_card.md` (edge variants from `edge_dir`, default `<run_dir>/edge`)."""
    run_dir = Path(run_dir)
    path = run_dir / runs.MODEL_CARD_FILE
    path.write_text(render_model_card(run_dir, Path(edge_dir or run_dir / runs.EDGE_DIR)))
    return path


def render_model_card(run_dir: Path, edge_dir: Path) -> str:
    """The card's Markdown; sections whose source file is missing say so instead."""
    config = load_config(run_dir / runs.CONFIG_FILE)
    metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
    confusion_path = run_dir / runs.CONFUSION_FILE
    confusion = load_confusion(confusion_path) if confusion_path.is_file() else None
    edge_report = edge_dir / runs.EDGE_REPORT_FILE
    sections = [
        f"# Model card: {config.output.name}",
        f"Run folder `{run_dir}`. Everything below is read from the files in it.",
        _data_section(config, metrics, confusion),
        _model_section(config, metrics),
        _training_section(config, metrics),
        _test_section(metrics, confusion),
        _export_section(config, run_dir),
        _edge_section(json.loads(edge_report.read_text()) if edge_report.is_file() else None),
        _reproduce_section(run_dir),
    ]
    return "\n\n".join(sections) + "\n"


def _data_section(config: Config, metrics: dict[str, Any], confusion: Confusion | None) -> str:
    sizes = ", ".join(
        f"{split} {metrics[key]}"
        for split, key in (("train", "n_train"), ("validation", "n_val"), ("test", "n_test"))
        if key in metrics
    )
    classes = ", ".join(confusion.class_names) if confusion else "(no confusion.json)"
    return (
        "## Data\n\n"
        f"- source: `{config.data.source}`\n"
        f"- split sizes: {sizes} (validation drawn with seed {config.training.seed}, "
        f"test split fixed)\n"
        f"- classes: {classes}"
    )


def _model_section(config: Config, metrics: dict[str, Any]) -> str:
    reg = config.regularizer
    penalty = {"none": "none", "l1": f"L1 λ={reg.l1:g}", "l2": f"L2 λ={reg.l2:g}"}.get(
        reg.kind, f"L1 λ={reg.l1:g} + L2 λ={reg.l2:g}"
    )
    return (
        "## Model\n\n"
        f"- {_network(config.model)}\n"
        f"- parameters: {_count(metrics.get('parameters'))}\n"
        f"- kernel regularizer: {penalty}"
    )


def _network(model: Any) -> str:
    """Which network the run trained, as its `model.*` keys chose it."""
    if model.builder:
        return f"the user's model from `model.builder` `{model.builder}`: raw pixels → logits"
    if model.from_keras:
        return f"the user's model loaded from `{model.from_keras}`: raw pixels → logits"
    if model.name in ("mlp", "cnn"):
        layers = (
            f"hidden units {model.hidden_units}"
            if model.name == "mlp"
            else f"conv filters {model.filters}, hidden units {model.hidden_units}"
        )
        dropout = f"dropout {model.dropout:g}"
        return f"`{model.name}`: raw pixels → rescale → {layers} → logits; {dropout}"
    alpha = f"alpha {model.alpha:g}, " if model.name.startswith("mobilenet") else ""
    return (
        f"`{model.name}` ({alpha}weights {model.weights}) from keras.applications: raw pixels → "
        f"rescale → its preprocessing → body → dropout {model.dropout:g} → logits"
    )


def _training_section(config: Config, metrics: dict[str, Any]) -> str:
    opt = config.optimizer
    return (
        "## Training\n\n"
        f"- optimizer: {opt.name}, learning rate {opt.learning_rate:g}, {opt.schedule} schedule\n"
        f"- {metrics.get('epochs', config.training.epochs)} epochs, batch "
        f"{metrics.get('global_batch_size', config.data.batch_size)} (global), seed "
        f"{config.training.seed}, precision {metrics.get('precision', '?')}\n"
        f"- strategy: {metrics.get('strategy', '?')} with {metrics.get('replicas', '?')} "
        f"replica(s); last session {metrics.get('train_seconds_this_session', '?')} s"
    )


def _test_section(metrics: dict[str, Any], confusion: Confusion | None) -> str:
    lines = [
        "## Test metrics",
        "",
        f"- test accuracy **{metrics['test_accuracy']:.4f}**, loss {metrics['test_loss']:.4f} "
        f"(n={metrics['n_test']})",
    ]
    if confusion is None:
        return "\n".join([*lines, "- no confusion matrix in this run folder"])
    names = confusion.class_names
    recall = confusion.per_class_accuracy
    lines += ["", "Confusion matrix (rows true, columns predicted) and per-class accuracy:", ""]
    lines.append("| true \\ predicted | " + " | ".join(names) + " | accuracy |")
    lines.append("|---" * (len(names) + 2) + "|")
    for name, row, acc in zip(names, confusion.matrix, recall, strict=True):
        cells = " | ".join(str(int(c)) for c in row)
        lines.append(f"| **{name}** | {cells} | {'—' if np.isnan(acc) else f'{acc:.3f}'} |")
    pairs = confusion.most_confused(5)
    mixups = ", ".join(f"{t} → {p} ({n})" for t, p, n in pairs) or "none"
    return "\n".join([*lines, "", f"Most confused (true → predicted): {mixups}"])


def _export_section(config: Config, run_dir: Path) -> str:
    from tfmodel.export.saved_model import (
        export_model_name,
        next_version,
        read_signatures,
        resolve_export_base,
    )

    model_dir = resolve_export_base(config, run_dir) / export_model_name(config)
    version_dir = model_dir / str(next_version(model_dir) - 1)
    if not (version_dir / "saved_model.pb").is_file():
        return "## Serving export\n\nNot exported (`python -m tfmodel.export RUN_DIR` makes one)."
    lines = ["## Serving export", "", f"SavedModel `{version_dir}`, signatures:", ""]
    for name, (method, inputs, outputs) in read_signatures(version_dir).items():
        lines.append(f"- `{name}` ({method}): {inputs} → {outputs}")
    return "\n".join(lines)


def _edge_section(report: dict[str, Any] | None) -> str:
    """The edge report's own table (edge.report renders it into report.json)."""
    if report is None:
        return (
            "## Edge variants\n\nNot built yet: `python -m edge.optimize RUN_DIR` adds them here."
        )
    if "table" not in report:
        return (
            "## Edge variants\n\nThe edge report predates its table: run "
            "`python -m edge.optimize RUN_DIR` again to measure the variants here."
        )
    interpreter = report.get("interpreter", "the edge runtime")
    return (
        f"## Edge variants\n\nMeasured on the test split with {interpreter}:\n\n{report['table']}"
    )


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _reproduce_section(run_dir: Path) -> str:
    return (
        "## Reproduce\n\n"
        "```bash\n"
        f"python -m tfmodel.train --config {run_dir / runs.CONFIG_FILE}   # the resolved config\n"
        f"python -m edge.optimize {run_dir}                       # the edge variants\n"
        "```"
    )
