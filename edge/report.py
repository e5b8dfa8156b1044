"""What each exported variant costs and gains, measured: a table, report.json, report.md, a chart.

Per variant: test accuracy and top-1 agreement with the float Keras model, file size raw and
gzipped (what a download or an app bundle costs), kernel sparsity, single-example p50/p99 latency
through the edge runtime, and whether the GPU delegate can run it (for phones). The Keras model's
row is the reference every other row is compared with.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.device.benchmark import measure_latency
from edge.device.cpu import describe_cpu
from edge.device.manifest import ModelFile
from edge.device.runtime import EdgeModel, describe_interpreter
from tfmodel.data import reading
from tfmodel.runs import EDGE_REPORT_FILE as REPORT_JSON  # the model card reads it too

REPORT_MD = "report.md"
CHART = "size_vs_accuracy.png"


@dataclasses.dataclass
class VariantResult:
    """One row of the report. `file`, sizes and GPU check are None for the Keras model."""

    variant: str
    file: str | None
    quantizer: str | None
    test_accuracy: float
    agreement: float
    bytes: int | None
    gzip_bytes: int | None
    sparsity: float
    p50_ms: float
    p99_ms: float
    gpu_compatible: bool | None = None
    ops: list[str] = dataclasses.field(default_factory=list)
    quantizer_candidates: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)


def gzip_size(content: bytes) -> int:
    """Bytes after gzip -9: what the file costs to download or to ship inside an app."""
    return len(gzip.compress(content, compresslevel=9))


def file_predictor(model: EdgeModel) -> Callable[[np.ndarray], np.ndarray]:
    """`model.predict` for batches of any size: whole batches where the file's batch dimension
    is free, else one example at a time."""
    if model.takes_any_batch:
        return model.predict
    return lambda x: np.concatenate([model.predict(example[None]) for example in x])


def measure_file(
    item: ModelFile, splits: Any, reference_top1: np.ndarray, seconds: float
) -> VariantResult:
    """One file's row on the test split of `splits`, measured through the edge runtime (its
    sha256 checked as on a device) a batch at a time; latency timed for up to `seconds`."""
    model = EdgeModel(item.path)
    predict = file_predictor(model)
    top1 = reading.predict_split(predict, splits, "test").argmax(axis=1)
    latency = measure_latency(predict, reading.first_images(splits, "test", 1)[0], seconds=seconds)
    content = item.path.read_bytes()
    return VariantResult(
        variant=item.variant,
        file=item.path.name,
        quantizer=item.quantizer,
        test_accuracy=float(np.mean(top1 == reading.labels(splits, "test"))),
        agreement=float(np.mean(top1 == reference_top1)),
        bytes=len(content),
        gzip_bytes=gzip_size(content),
        sparsity=item.sparsity,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
    )


def model_row(
    model: Any, splits: Any, path: Path | None, sparsity: float, seconds: float
) -> tuple[VariantResult, np.ndarray]:
    """The model as brought (the door's description: its Keras, or its SavedModel at `path`),
    measured like the files on the test split of `splits`: one call per example for latency,
    timed for up to `seconds`. Also its top-1 answers, the files' reference."""
    top1 = reading.predict_split(model.predict, splits, "test").argmax(axis=1)
    example = reading.first_images(splits, "test", 1)[0]
    latency = measure_latency(model.probabilities, example, seconds=seconds)
    row = VariantResult(
        variant="keras",
        file=path.name if path else None,
        quantizer=None,
        test_accuracy=float(np.mean(top1 == reading.labels(splits, "test"))),
        agreement=1.0,
        bytes=None if path is None else disk_bytes(path),
        gzip_bytes=None,
        sparsity=sparsity,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
    )
    return row, top1


def disk_bytes(path: Path) -> int:
    """A file's size, or a folder's (a SavedModel's) files added up."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def recommend(rows: list[VariantResult], max_accuracy_drop: float) -> VariantResult | None:
    """The file to ship on the CPU that measured: the fastest (p50) whose test accuracy is
    within `max_accuracy_drop` of the model's; None if no file is."""
    keras = next(r for r in rows if r.variant == "keras")
    close = [
        r
        for r in rows
        if r.file and r.gzip_bytes and keras.test_accuracy - r.test_accuracy <= max_accuracy_drop
    ]
    return min(close, key=lambda r: (r.p50_ms, r.bytes), default=None)


def recommendation(rows: list[VariantResult], max_accuracy_drop: float) -> str:
    """The report's verdict in one line, for the CPU that measured (`build_report`'s "cpu")."""
    best = recommend(rows, max_accuracy_drop)
    if best is None:
        return (
            f"no file is within edge.max_accuracy_drop {max_accuracy_drop:g} of the model's "
            "test accuracy: ship model_float32.tflite, or raise the tolerance"
        )
    return (
        f"ship {best.file} on this CPU: the fastest (p50 {best.p50_ms:.3f} ms) within "
        f"edge.max_accuracy_drop {max_accuracy_drop:g} of the model's test accuracy (on "
        "another CPU, measure there: python -m edge.device.benchmark)"
    )


def build_report(
    rows: list[VariantResult], interpreter: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """report.json's content: the rows, how and on which CPU they were measured, and the rows as
    the Markdown table that report.md, the terminal and the model card all show (rendered here
    only)."""
    return {
        "interpreter": describe_interpreter(interpreter),
        "cpu": describe_cpu(),
        **extra,
        "rows": [dataclasses.asdict(r) for r in rows],
        "table": format_table(rows),
    }


def format_table(rows: list[VariantResult]) -> str:
    """The report as a Markdown table (readable as plain text too)."""
    keras = next(r for r in rows if r.variant == "keras")
    float_row = next((r for r in rows if r.variant == "float32"), None)
    header = (
        "| variant | quantizer | test acc | Δ vs Keras (pt) | agree w/ Keras | size KB | gzip KB "
        "| × float32 (gzip) | sparsity | p50 ms | p99 ms | GPU delegate |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        ratio = (
            f"{r.bytes / float_row.bytes:.2f} ({r.gzip_bytes / float_row.gzip_bytes:.2f})"
            if float_row and r.gzip_bytes
            else "—"
        )
        gpu = {True: "yes", False: "no", None: "—"}[r.gpu_compatible]
        lines.append(
            f"| {r.variant} | {r.quantizer or '—'} | {r.test_accuracy:.4f} "
            f"| {100 * (r.test_accuracy - keras.test_accuracy):+.2f} | {r.agreement:.4f} "
            f"| {_kb(r.bytes)} | {_kb(r.gzip_bytes)} | {ratio} | {r.sparsity:.3f} "
            f"| {r.p50_ms:.3f} | {r.p99_ms:.3f} | {gpu} |"
        )
    return "\n".join(lines)


def _kb(size: int | None) -> str:
    return "—" if size is None else f"{size / 1024:.1f}"


def write_report(
    out_dir: Path, report: dict[str, Any], rows: list[VariantResult], notes: list[str]
) -> None:
    """report.json, report.md (table, then notes) and the size-vs-accuracy chart."""
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    markdown = [
        "# Edge variants",
        "",
        f"Measured with {report['interpreter']} on {report['cpu']}; latency is one example "
        "per call, on this machine (measure on the device for device numbers).",
        "",
        format_table(rows),
        "",
        *(f"- {note}" for note in notes),
        "",
        "Ops per file (what a phone's delegate must support):",
        "",
        *(f"- `{r.file}`: {', '.join(r.ops)}" for r in rows if r.ops),
        "",
        f"![size vs accuracy]({CHART})",
        "",
    ]
    (out_dir / REPORT_MD).write_text("\n".join(markdown))
    plot_size_vs_accuracy(rows, out_dir / CHART)


def plot_size_vs_accuracy(rows: list[VariantResult], png: Path) -> None:
    """Each file as a point: gzipped size (x, log scale) against test accuracy (y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = [r for r in rows if r.gzip_bytes]
    keras = next(r for r in rows if r.variant == "keras")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for marker, key, label in (("o", "gzip_bytes", "gzipped"), ("x", "bytes", "raw")):
        sizes = [getattr(r, key) / 1024 for r in files]
        ax.scatter(sizes, [r.test_accuracy for r in files], marker=marker, label=label)
    for r in files:
        ax.annotate(
            r.variant,
            (r.gzip_bytes / 1024, r.test_accuracy),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.axhline(keras.test_accuracy, color="gray", linestyle="--", label="Keras float")
    ax.set_xscale("log")
    ax.set_xlabel("file size (KB, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Edge variants: size vs accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
