"""One example through the digits MLP, every way this repo can run it, in one process.

    python -m benchmarks.edge_calls           # ~4 min on 2 cores; prints the table and
                                              # rewrites its section of benchmarks/RESULTS.md
    python -m benchmarks.edge_calls --quick   # ~30 s; prints only

The same untrained 64-128-10 MLP (latency does not depend on the weights' values) runs as the
edge runtime's `EdgeModel.predict` on its int8 and float32 `.tflite` (quantize, invoke,
dequantize, as an app calls it), as the bare `interpreter.invoke()` on those files with the input
already set, as Keras' `model.predict` and `model(x)`, and as the `serving_default` signature of
its SavedModel loaded in-process (what a server calls). The calls take turns, round by round in
rotating order, after a warm-up; p50/p99 are the medians of the rounds' percentiles. Goals:
`predict()` adds at most 1 µs over `invoke()` on int8, and int8 `predict()` is at least 100×
faster than `model.predict` on one example.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.interpreters import invoke_call
from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from edge import convert
from edge.device.benchmark import measure_latency, random_example
from edge.device.runtime import EdgeModel, describe_interpreter
from tfmodel.backend import tf
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.export.saved_model import save_signatures
from tfmodel.models import build_model

SECTION = "## Edge: one example through predict(), invoke(), Keras and the SavedModel"
SIZES = {"smoke": (5, 1), "quick": (1000, 3), "full": (3000, 15)}  # → (runs, rounds)
KERAS_SHARE = 20  # Keras and SavedModel calls take ~1000× longer: time runs // 20 of them
OVERHEAD_GOAL_US = 1.0
SPEEDUP_GOAL = 100.0
WHY = (
    "predict() is asarray, quantize, set_tensor, invoke, get_tensor and dequantize, each one "
    "numpy or interpreter call made from Python. Measured on the shared 2-core AMD EPYC (CPU-time "
    "minima; about twice that on a loaded core): asarray 0.14 µs, quantize 1.7 (one searchsorted "
    "among the 255 float32s where q steps, 1.1, and one take, 0.4; the formula's six ufunc calls "
    "took 5-6), set_tensor 0.55, get_tensor 0.55, dequantize 0.8 (a table take, mostly "
    "converting the int8 indices), predict's own call ~0.9: ~4.7 µs. A tensor() view instead of "
    "set_tensor or get_tensor measured no faster (making the view costs what the copy does). "
    "Even the float32 file's predict(), which converts nothing, adds ~2.4 µs over its invoke(). "
    "Under 1 µs needs the conversion inside invoke (an int8 file with float32 input and output, "
    "whose QUANTIZE and DEQUANTIZE ops run in C++) and the set/get calls out of Python too: "
    "the interpreter's Python wrapper costs ~0.5 µs a call"
)
COLUMNS = ["call", "p50 µs", "p99 µs", "× int8 predict()"]


def build_calls(workdir: Path) -> tuple[dict[str, Callable[[np.ndarray], object]], np.ndarray]:
    """Call name → a function of one batch of one example; and that example."""
    splits = load_splits(DataConfig(), seed=0)
    model = build_model(
        ModelConfig(), RegularizerConfig(), splits.input_shape, 10, splits.pixel_max
    )
    calibration = convert.calibration_examples(splits.x_train, count=200)
    calls = {}
    for kind in ("int8", "float32"):
        path = workdir / f"model_{kind}.tflite"
        path.write_bytes(convert.convert_model(model, "pixels", kind, calibration))
        edge_model = EdgeModel(path, num_threads=1, verify=False)
        calls[f"EdgeModel.predict ({kind})"] = edge_model.predict
        calls[f"interpreter.invoke ({kind})"] = invoke_call(path, edge_model.interpreter_name)
    save_signatures(model, "pixels", splits.class_names, workdir / "saved_model")
    signature = tf.saved_model.load(str(workdir / "saved_model")).signatures["serving_default"]
    calls["Keras model.predict"] = lambda x: model.predict(x, verbose=0)
    calls["Keras model(x)"] = lambda x: model(x, training=False)
    calls["SavedModel serving_default"] = lambda x: signature(pixels=tf.constant(x))
    return calls, random_example(edge_model)


def measure(
    calls: dict[str, Callable[[np.ndarray], object]], example: np.ndarray, runs: int, rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Call name → (p50s, p99s) in µs, one per round; the calls take turns in rotating order."""
    names = list(calls)
    times = {name: ([], []) for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            slow = name.startswith(("Keras", "SavedModel"))
            count = max(runs // KERAS_SHARE, 3) if slow else runs
            latency = measure_latency(calls[name], example, count, max(count // 10, 2))
            times[name][0].append(latency.p50_ms * 1000)
            times[name][1].append(latency.p99_ms * 1000)
    return times


def run(size: str = "full") -> Section:
    """Time every call: the section, with the two edge goals as figures."""
    check_size(size)
    runs, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        calls, example = build_calls(Path(tmp))
        times = measure(calls, example, runs, rounds)
    p50 = {name: statistics.median(t[0]) for name, t in times.items()}
    base = p50["EdgeModel.predict (int8)"]
    table = markdown_table(
        COLUMNS,
        [
            [name, f"{p50[name]:.2f}", f"{statistics.median(t[1]):.2f}", f"{p50[name] / base:.2f}"]
            for name, t in times.items()
        ],
    )
    interpreter = describe_interpreter(calls["EdgeModel.predict (int8)"].__self__.interpreter_name)
    text = section_text(
        SECTION,
        "`python -m benchmarks.edge_calls` — one example of the digits MLP 64-128-10 "
        "(untrained: latency does not depend on the weights) per call, in one process, one "
        f"thread for the `.tflite` files ({interpreter}). {rounds} rounds after a warm-up, "
        f"the calls in rotating order; {runs} timed calls a round for the `.tflite` calls, "
        f"{KERAS_SHARE}× fewer for Keras and the SavedModel; p50/p99: medians of the rounds' "
        "percentiles. `EdgeModel.predict` is the edge runtime's whole call (quantize, "
        "invoke, dequantize); `interpreter.invoke` the bare call with the input already set.",
        table,
    )
    overhead = p50["EdgeModel.predict (int8)"] - p50["interpreter.invoke (int8)"]
    figures = [
        Figure(
            "edge",
            "int8 predict() p50 − invoke() p50, digits",
            max(overhead, 1e-3),
            "µs",
            OVERHEAD_GOAL_US,
            at_least=False,
            why=WHY,
        ),
        Figure(
            "edge",
            "Keras model.predict p50 ÷ int8 predict() p50, one example",
            p50["Keras model.predict"] / base,
            "×",
            SPEEDUP_GOAL,
        ),
    ]
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("edge_calls", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
