"""Single-example latency of the same `.tflite` files under every TFLite interpreter installed.

    python -m benchmarks.interpreters           # ~1 min on 2 cores; prints the table and
                                                # rewrites its RESULTS.md section
    python -m benchmarks.interpreters --quick   # ~15 s; prints only

The files — float32 and int8 of the digits MLP (64-128-10) and of the 784-128-10 MLP, made by
`edge.convert` from untrained models (latency does not depend on the weights' values) — run under
`ai_edge_litert.interpreter.Interpreter`, `tf.lite.Interpreter` (the baseline) and
`tflite_runtime.interpreter.Interpreter` when it is importable, all in this one process, one
thread each. Two calls are timed: `predict`, the edge runtime's whole call (quantize, invoke,
dequantize, as an app makes it), and `invoke` alone on a random input tensor of the model's own
dtype. The interpreters take turns, round by round in rotating order, after a warm-up; p50 and
p99 are the medians of the rounds' percentiles, and `× tf.lite` the median of the rounds' ratios
of p50s (below 1: faster than tf.lite). The outputs are checked to agree as well.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.results import (
    Section,
    benchmark_parser,
    check_size,
    describe_machine,
    markdown_table,
    print_and_record,
    section_text,
)
from edge import convert
from edge.device.benchmark import measure_latency, random_example
from edge.device.runtime import INTERPRETERS, EdgeModel, describe_interpreter, find_interpreter
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.models import build_model

SECTION = "## Edge interpreters: ai-edge-litert vs tf.lite"
BASELINE = "tensorflow"  # edge.device.runtime's name for tf.lite.Interpreter
LABELS = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tf.lite",
}
KINDS = ("float32", "int8")
SIZES = {"smoke": (5, 1), "quick": (300, 5), "full": (2000, 21)}  # → (runs, rounds)
EXAMPLES = """examples:
  python -m benchmarks.interpreters
  python -m benchmarks.interpreters --quick
  python -m benchmarks.interpreters --runs 2000 --rounds 20
"""


@dataclass(frozen=True)
class Row:
    """One file under one interpreter: per round, p50 and p99 (ms) of both timed calls."""

    model: str
    kind: str
    kilobytes: float
    interpreter: str
    predict_p50: list[float]
    predict_p99: list[float]
    invoke_p50: list[float]
    invoke_p99: list[float]
    max_difference: float  # largest |Δ probability| from the baseline's output on one example


def build_files(calibration_count: int = 200) -> dict[tuple[str, str], bytes]:
    """(model, kind) → `.tflite` bytes, float32 and int8 of both MLPs, via edge.convert."""
    digits = load_splits(DataConfig(), seed=0)
    rng = np.random.default_rng(0)
    pixels_784 = rng.integers(0, 256, size=(calibration_count, 28, 28, 1)).astype(np.float32)
    sources = {
        "digits MLP 64-128-10": (digits.x_train, digits.pixel_max),
        "MLP 784-128-10": (pixels_784, 255.0),
    }
    files = {}
    for name, (x, pixel_max) in sources.items():
        model = build_model(ModelConfig(), RegularizerConfig(), x.shape[1:], 10, pixel_max)
        calibration = convert.calibration_examples(x, count=calibration_count)
        for kind in KINDS:
            files[name, kind] = convert.convert_model(model, "pixels", kind, calibration)
    return files


def available_interpreters() -> list[str]:
    """The baseline (tf.lite) first, then every other interpreter that imports here."""
    names = [BASELINE]
    for name in INTERPRETERS:
        if name == BASELINE:
            continue
        try:
            find_interpreter(name)
        except Exception:  # EdgeError when not installed; a broken install counts as absent
            continue
        names.append(name)
    return names


def invoke_call(path: Path, interpreter: str) -> Callable[[object], None]:
    """`interpreter.invoke()` on its own interpreter of `path`, the input set once at random.

    The input tensor gets random values of the model's own dtype (int8 for an int8 file), so no
    quantization is timed; the argument is ignored (it fits `measure_latency`).
    """
    interpreter_class, _ = find_interpreter(interpreter)
    model = interpreter_class(model_content=path.read_bytes(), num_threads=1)
    model.allocate_tensors()
    (detail,) = model.get_input_details()
    rng = np.random.default_rng(0)
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        tensor = rng.uniform(0.0, 1.0, size=detail["shape"]).astype(dtype)
    else:
        limits = np.iinfo(dtype)
        tensor = rng.integers(limits.min, limits.max, size=detail["shape"], endpoint=True)
    model.set_tensor(detail["index"], tensor.astype(dtype))
    return lambda _: model.invoke()


def measure_file(
    name: str, kind: str, content: bytes, interpreters: list[str], runs: int, rounds: int
) -> list[Row]:
    """One Row per interpreter; the interpreters take turns, the order rotating each round."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{kind}.tflite"
        path.write_bytes(content)
        # tf.lite.Interpreter warns, every time one is made, that it is deprecated.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            edge_models = {
                i: EdgeModel(path, num_threads=1, interpreter=i, verify=False) for i in interpreters
            }
            invokes = {i: invoke_call(path, i) for i in interpreters}
    example = random_example(edge_models[BASELINE])
    outputs = {i: model.predict(example) for i, model in edge_models.items()}
    times = {i: {"predict": [], "invoke": []} for i in interpreters}
    for r in range(rounds):
        warmup = 200 if r == 0 else 20
        for i in interpreters[r % len(interpreters) :] + interpreters[: r % len(interpreters)]:
            times[i]["predict"].append(
                measure_latency(edge_models[i].predict, example, runs, warmup)
            )
            times[i]["invoke"].append(measure_latency(invokes[i], example, runs, warmup))
    return [
        Row(
            name,
            kind,
            len(content) / 1024,
            i,
            [t.p50_ms for t in times[i]["predict"]],
            [t.p99_ms for t in times[i]["predict"]],
            [t.p50_ms for t in times[i]["invoke"]],
            [t.p99_ms for t in times[i]["invoke"]],
            float(np.abs(outputs[i] - outputs[BASELINE]).max()),
        )
        for i in interpreters
    ]


def ratio_to_baseline(row: Row, rows: list[Row], call: str) -> float:
    """Median over rounds of row's p50 ÷ the baseline's p50 for the same file and call."""
    key = (row.model, row.kind, BASELINE)
    (base,) = [b for b in rows if (b.model, b.kind, b.interpreter) == key]
    ours, theirs = getattr(row, f"{call}_p50"), getattr(base, f"{call}_p50")
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


COLUMNS = [
    "model",
    "file",
    "KB",
    "interpreter",
    "predict p50 µs",
    "predict p99 µs",
    "predict × tf.lite",
    "invoke p50 µs",
    "invoke p99 µs",
    "invoke × tf.lite",
    "max Δp vs tf.lite",
]


def format_table(rows: list[Row]) -> str:
    """The rows as a Markdown table; times in µs, medians over the rounds."""

    def micros(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.2f}"

    cells = [
        [
            r.model,
            r.kind,
            f"{r.kilobytes:.1f}",
            LABELS[r.interpreter],
            micros(r.predict_p50),
            micros(r.predict_p99),
            f"{ratio_to_baseline(r, rows, 'predict'):.3f}",
            micros(r.invoke_p50),
            micros(r.invoke_p99),
            f"{ratio_to_baseline(r, rows, 'invoke'):.3f}",
            f"{r.max_difference:.1e}",
        ]
        for r in rows
    ]
    return markdown_table(COLUMNS, cells)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark_parser("interpreters", __doc__.splitlines()[0], EXAMPLES)
    parser.add_argument("--runs", type=int, help="timed calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, help="rounds per interpreter (default 21)")
    return parser.parse_args(argv)


def run(size: str = "full", runs: int | None = None, rounds: int | None = None) -> Section:
    """Every file under every interpreter: the section (no goal of its own)."""
    check_size(size)
    runs, rounds = runs or SIZES[size][0], rounds or SIZES[size][1]
    machine = describe_machine()
    interpreters = available_interpreters()
    versions = ", ".join(f"{LABELS[i]} = {describe_interpreter(i)}" for i in interpreters)
    absent = [LABELS[i] for i in INTERPRETERS if i not in interpreters]
    print(f"interpreters: {versions}" + (f"; not installed: {absent}" if absent else ""))
    rows = []
    for (name, kind), content in build_files().items():
        rows += measure_file(name, kind, content, interpreters, runs, rounds)
        print(f"{name} {kind}: done", flush=True)
    table = format_table(rows)
    text = section_text(
        SECTION,
        "`python -m benchmarks.interpreters` — the same files (from `edge.convert`, untrained "
        "weights: latency does not depend on their values) under each interpreter, in one "
        f"process, one thread each ({versions}"
        + (f"; {', '.join(absent)} not installed" if absent else "")
        + "). "
        "`predict`: the edge runtime's whole call on one example (quantize, invoke, "
        "dequantize); "
        "`invoke`: `interpreter.invoke()` alone. "
        f"{rounds} rounds of {runs} timed calls each after a warm-up, interpreters in rotating "
        "order; p50/p99 are the medians of the rounds' percentiles, `× tf.lite` the median of "
        "the rounds' p50 ratios (below 1: faster than tf.lite); `max Δp`: largest difference "
        "from tf.lite's probabilities on one random example.",
        table,
        machine=machine,
    )
    return Section(SECTION, text, table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    section = run("quick" if args.quick else "full", args.runs, args.rounds)
    return print_and_record(section, args.quick)


if __name__ == "__main__":
    sys.exit(main())
