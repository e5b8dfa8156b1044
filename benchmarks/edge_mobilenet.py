"""MobileNetV2 α 0.35 through the edge stage: each int8 route against float32; predict()'s cost.

The network (configs/photos_mobilenet_v2.yaml's), trained briefly on generated colour images, is
converted to float32 and to int8 by each route edge.optimize has: the converter's PTQ with float32
I/O (`int8`, what devices use) and with int8 I/O, litert-quantizer's PTQ, and QAT then the
converter. Per file: test accuracy, agreement with Keras, size, and single-example p50 per thread
count, the files alternating with the int8 file's bare set→invoke→get loop and Keras' predict.
"""

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.harness import latencies
from benchmarks.results import Figure, Result, Table
from benchmarks.training_speed import colour_splits
from edge import convert
from edge.convert import softmax
from edge.device.runtime import EdgeModel, find_interpreter
from edge.finetune import fine_tune_data, finetune
from edge.qat import quantize_aware_finetune
from edge.report import gzip_size
from tfmodel.backend import keras
from tfmodel.config import Config, ModelConfig, RegularizerConfig, TrainingConfig
from tfmodel.data import Splits
from tfmodel.models import build_model

# size → (image side, images, epochs, timed calls, rounds, thread counts, every route)
SIZES = {
    "smoke": (32, 90, 2, 5, 1, (1,), False),  # two files: QAT and litert-quantizer take minutes
    "quick": (64, 240, 2, 50, 3, (1, 2), True),
    "full": (96, 600, 3, 200, 5, (1, 2, 4), True),
}
SPEED_GOAL, SIZE_GOAL, AGREEMENT_GOAL, OVERHEAD_GOAL, KERAS_GOAL = 0.7, 0.30, 0.99, 1.2, 10.0
F32, INT8 = ("float32", "—"), ("int8", "converter")  # the two files every size makes
COLUMNS = ["variant", "quantizer", "test acc", "Δ acc vs Keras (pt)", "top-1 agree w/ Keras"]
COLUMNS += ["mean abs Δp vs Keras", "KB", "× float32", "× float32 gzip"]
QUALITY = (".3f", "+.1f", ".3f", ".4f")  # the formats of `quality`'s figures


def train_mobilenet(side: int, count: int, epochs: int) -> tuple[keras.Model, Splits, Config]:
    """(Keras model, splits, config): the network trained briefly on generated colour images."""
    splits = colour_splits(side, count)
    mobilenet = ModelConfig(name="mobilenet_v2", alpha=0.35, weights="none")
    config = Config(model=mobilenet, training=TrainingConfig(verbose=0))
    model = build_model(config.model, RegularizerConfig(), (side, side, 3), 3, 255.0)
    for layer in model.layers:  # Keras' 0.999 needs thousands of steps to settle; a few here
        if hasattr(layer, "moving_mean"):
            layer.momentum = 0.8
    return finetune(model, fine_tune_data(splits, config), config, epochs), splits, config


def variants(model, splits: Splits, config: Config, every_route: bool) -> dict[tuple, bytes]:
    """(variant, quantizer) → file bytes: float32 and the converter's int8 (float I/O) first."""
    calibration = convert.calibration_examples(splits.x_train, count=100)

    def converted(keras_model, kind: str) -> bytes:
        return convert.convert_model(keras_model, "pixels", kind, calibration)

    made = {F32: converted(model, "float32"), INT8: converted(model, "int8")}
    if every_route:
        made["int8_io", "converter"] = converted(model, "int8_io")
        if convert.litert_quantizer_available():
            litert = convert.quantize_with_litert(made[F32], "pixels", calibration)
            made["int8_io", "litert-quantizer"] = litert
        config.edge.prune_epochs = 1  # QAT's fine-tuning epochs
        qat = quantize_aware_finetune(model, splits, config)
        made["qat_int8", "QAT + converter"] = converted(qat, "int8")
    return made


def quality(path: Path, splits: Splits, keras_p: np.ndarray) -> list[float]:
    """Test accuracy, its difference from Keras' (pt), top-1 agreement, mean |Δp| from Keras."""
    p = EdgeModel(path, num_threads=1, verify=False).predict(splits.x_test)
    accuracy = float(np.mean(p.argmax(1) == splits.y_test))
    keras_accuracy = float(np.mean(keras_p.argmax(1) == splits.y_test))
    agreement = float(np.mean(p.argmax(1) == keras_p.argmax(1)))
    delta = float(np.abs(p - keras_p).mean())
    return [accuracy, (accuracy - keras_accuracy) * 100, agreement, delta]


def bare_loop(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """set_tensor → invoke → get_tensor on a float-I/O file, one thread, nothing else."""
    interpreter = find_interpreter()[0](model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    set_tensor, invoke, get = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor

    def call(x: np.ndarray) -> np.ndarray:
        set_tensor(inp["index"], x)
        invoke()
        return get(out["index"])

    return call


def run(size: str = "full") -> Result:
    side, count, epochs, runs, rounds, threads, every_route = SIZES[size]
    model, splits, config = train_mobilenet(side, count, epochs)
    keras_p = softmax(model.predict(splits.x_test, verbose=0))
    example = splits.x_test[0]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (key, content) in enumerate(variants(model, splits, config, every_route).items()):
            paths[key] = Path(tmp) / f"variant{i}.tflite"
            paths[key].write_bytes(content)
        p50 = {}
        for n in threads:
            calls = {k: EdgeModel(p, num_threads=n, verify=False).predict for k, p in paths.items()}
            if n == 1:
                calls["bare"] = bare_loop(paths[INT8])
                calls["keras"] = lambda x: model.predict(x, verbose=0)
            counts = {k: max(runs // 10, 5) if k == "keras" else runs for k in calls}
            p50[n] = latencies(calls, example, counts, rounds)
        sizes = {k: (p.stat().st_size, gzip_size(p.read_bytes())) for k, p in paths.items()}
        rows = [[*k, *map(format, quality(p, splits, keras_p), QUALITY)] for k, p in paths.items()]
    (f32_size, f32_gzip), (int8_size, _) = sizes[F32], sizes[INT8]
    for row, key in zip(rows, paths, strict=True):
        row += [f"{sizes[key][0] / 1024:.1f}", f"{sizes[key][0] / f32_size:.2f}"]
        row += [f"{sizes[key][1] / f32_gzip:.2f}", *(f"{p50[n][key].p50_ms:.3f}" for n in threads)]
    columns = COLUMNS + [f"p50 ms, {n} thread(s)" for n in threads]
    one = {k: v.p50_ms for k, v in p50[1].items()}
    keras_ratio, bare_ratio = one["keras"] / one[INT8], one[INT8] / one["bare"]
    figures = [
        Figure(f"int8 p50 ÷ float32 p50, {n} thread(s)", ratio, "×", SPEED_GOAL, False)
        for n in threads
        for ratio in [p50[n][INT8].p50_ms / p50[n][F32].p50_ms]
    ]
    figures += [
        Figure("int8 bytes ÷ float32 bytes", int8_size / f32_size, "×", SIZE_GOAL, False),
        Figure("int8 top-1 agreement with Keras", float(rows[1][4]), "", AGREEMENT_GOAL),
        Figure("Keras model.predict ÷ int8 predict(), p50", keras_ratio, "×", KERAS_GOAL),
        Figure("int8 predict() ÷ bare set→invoke→get, p50", bare_ratio, "×", OVERHEAD_GOAL, False),
    ]
    method = f"{side}×{side}, trained {epochs} epoch(s) on {count} images, "
    method += (
        f"{len(splits.x_test)} test images; {rounds} round(s) of {runs} timed calls, alternating."
    )
    title = "Edge: MobileNetV2 α 0.35, int8 (float I/O) against float32"
    return Result("edge_mobilenet", title, method, [Table(columns, rows)], figures)
