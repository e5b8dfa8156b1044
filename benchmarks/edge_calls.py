"""One example through the untrained digits MLP every way this repo runs it, alternating: the edge
runtime's `EdgeModel.predict` and the bare `interpreter.invoke()` (input already set) on its int8
and float32 `.tflite` under every TFLite interpreter installed (tf.lite the baseline), Keras'
`model.predict` and `model(x)`, and its SavedModel's `serving_default`. `max Δp`: the largest
difference from tf.lite's probabilities for the same file and example.
"""

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np

from benchmarks.harness import latencies
from benchmarks.results import Figure, Result, Table
from edge import convert
from edge.device.benchmark import random_example
from edge.device.runtime import INTERPRETERS, EdgeModel, describe_interpreter, find_interpreter
from tfmodel.backend import tf
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.export.saved_model import save_signatures
from tfmodel.models import build_model

BASELINE = "tensorflow"  # edge.device.runtime's name for tf.lite.Interpreter
KINDS = ("int8", "float32")
SIZES = {"smoke": (5, 1), "quick": (1000, 3), "full": (3000, 15)}  # → (runs, rounds)
KERAS_SHARE = 20  # Keras and SavedModel calls take ~1000× longer: time runs // 20 of them
OVERHEAD_GOAL, SPEEDUP_GOAL = 1.0, 100.0  # µs, ×
COLUMNS = ["call", "file", "interpreter", "p50 µs", "p99 µs", "× tf.lite", "max Δp vs tf.lite"]


def available_interpreters() -> list[str]:
    """The baseline (tf.lite) first, then every other interpreter that imports here."""
    names = [BASELINE]
    for name in [n for n in INTERPRETERS if n != BASELINE]:
        with contextlib.suppress(
            Exception
        ):  # EdgeError if absent; a broken install counts as absent
            names.append(find_interpreter(name)[1])
    return names


def invoke_call(path: Path, interpreter: str):
    """`interpreter.invoke()` on its own interpreter of `path`, input set once; ignores its arg."""
    model = find_interpreter(interpreter)[0](model_content=path.read_bytes(), num_threads=1)
    model.allocate_tensors()
    (detail,) = model.get_input_details()  # float32 for both KINDS
    tensor = np.random.default_rng(0).uniform(0.0, 1.0, size=detail["shape"])
    model.set_tensor(detail["index"], tensor.astype(detail["dtype"]))
    return lambda _: model.invoke()


def build_calls(workdir: Path, interpreters: list[str]):
    """Every call by (call, file, interpreter), the EdgeModels by (file, interpreter), an input."""
    splits = load_splits(DataConfig(), seed=0)
    model = build_model(ModelConfig(), RegularizerConfig(), (8, 8, 1), 10, splits.pixel_max)
    calibration = convert.calibration_examples(splits.x_train, count=200)
    calls, models = {}, {}
    with warnings.catch_warnings():  # tf.lite.Interpreter warns it is deprecated, every time
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        for kind in KINDS:
            path = workdir / f"model_{kind}.tflite"
            path.write_bytes(convert.convert_model(model, "pixels", kind, calibration))
            for name in interpreters:
                models[kind, name] = EdgeModel(path, num_threads=1, interpreter=name, verify=False)
                calls["EdgeModel.predict", kind, name] = models[kind, name].predict
                calls["interpreter.invoke", kind, name] = invoke_call(path, name)
    save_signatures(model, "pixels", splits.class_names, workdir / "saved_model")
    signature = tf.saved_model.load(str(workdir / "saved_model")).signatures["serving_default"]
    calls["Keras model.predict", "", ""] = lambda x: model.predict(x, verbose=0)
    calls["Keras model(x)", "", ""] = lambda x: model(x, training=False)
    calls["SavedModel serving_default", "", ""] = lambda x: signature(pixels=tf.constant(x))
    return calls, models, random_example(models["int8", BASELINE])


def run(size: str = "full") -> Result:
    runs, rounds = SIZES[size]
    interpreters = available_interpreters()
    default = find_interpreter()[1]  # what EdgeModel takes when none is named
    with tempfile.TemporaryDirectory() as tmp:
        calls, models, example = build_calls(Path(tmp), interpreters)
        counts = {key: max(runs // KERAS_SHARE, 3) if not key[1] else runs for key in calls}
        times = latencies(calls, example, counts, rounds)
    outputs = {key: m.predict(example[None]) for key, m in models.items()}
    rows = []
    for (call, kind, name), latency in times.items():
        ratio, delta, label = "—", "—", "—"
        if kind:  # a .tflite call: against tf.lite's, on the same file
            ratio = f"{latency.p50_ms / times[call, kind, BASELINE].p50_ms:.3f}"
            delta = f"{np.abs(outputs[kind, name] - outputs[kind, BASELINE]).max():.1e}"
            label = describe_interpreter(name)
        p50, p99 = (f"{v * 1000:.2f}" for v in (latency.p50_ms, latency.p99_ms))
        rows.append([call, kind or "—", label, p50, p99, ratio, delta])
    p50 = {key: latency.p50_ms * 1000 for key, latency in times.items()}  # µs
    predict = p50["EdgeModel.predict", "int8", default]
    overhead = max(predict - p50["interpreter.invoke", "int8", default], 1e-3)
    keras = p50["Keras model.predict", "", ""] / predict
    figures = [
        Figure(f"int8 predict() − invoke(), p50, {default}", overhead, "µs", OVERHEAD_GOAL, False),
        Figure("Keras model.predict ÷ int8 predict(), p50", keras, "×", SPEEDUP_GOAL),
    ]
    method = f"{rounds} round(s) of {runs} calls ({KERAS_SHARE}× fewer for Keras), one thread."
    title = "Edge: one example through predict(), invoke(), Keras and the SavedModel"
    return Result("edge_calls", title, method, [Table(COLUMNS, rows)], figures)
