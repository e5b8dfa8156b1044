"""`edge.optimize --variants float32,int8` ÷ the plain script a user would write, wall time.

A run of configs/photos_mobilenet_v2.yaml (96×96, one epoch of `python -m tfmodel.train`) on
`input_pipeline`'s JPEGs. Ours: `edge.optimize`'s `optimize` on the run as the door loads it,
default settings. Plain: `TFLiteConverter.from_keras_model` float32, then int8 calibrated on as
many train images as ours takes, then each file's test accuracy through ai_edge_litert's
Interpreter, one example a call. Smoke: configs/photos_cnn.yaml at 32×32.
"""

import statistics
import tempfile
from pathlib import Path

from ai_edge_litert.interpreter import Interpreter

from benchmarks.harness import FRESH_ENV, alternate, command_side, photo_training
from benchmarks.input_pipeline import write_jpegs
from benchmarks.results import Figure, Result, Table
from benchmarks.training_photos import RECIPE as CNN
from benchmarks.training_speed import MOBILENET_RECIPE as MOBILENET
from edge.optimize import optimize
from tfmodel.backend import tf
from tfmodel.brought import load_model_data, resolve_model
from tfmodel.data import reading

SIZES = {  # photos, side, recipe, warm-up turns a side, timed rounds
    "smoke": (24, 32, CNN, 0, 1),
    "quick": (90, 96, MOBILENET, 1, 1),
    "full": (90, 96, MOBILENET, 1, 3),
}
GOAL = 1.3  # ours ÷ plain, wall


def trained_run(folder: Path, photos: int, side: int, recipe: Path) -> Path:
    """The run folder of one epoch of `python -m tfmodel.train` on `photos` generated JPEGs."""
    write_jpegs(folder / "photos", photos)
    train = photo_training(folder / "photos", side, recipe, "edge.variants=[float32,int8]")
    command_side(["-m", "tfmodel.train", *train], env=FRESH_ENV, cwd=folder)()
    return next(folder.glob("photos-*"))


def plain_script(keras_model, splits, calibration_count: int) -> list[float]:
    """The float32 and int8 files' test accuracies, as a user's own script makes them."""
    files = [tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()]
    calibration = reading.first_images(splits, "train", calibration_count)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    files.append(converter.convert())
    x_test = reading.first_images(splits, "test", reading.count(splits, "test"))
    return [accuracy(content, x_test, reading.labels(splits, "test")) for content in files]


def accuracy(content: bytes, x, y) -> float:
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    right = 0
    for image, label in zip(x, y, strict=True):  # one example a call
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        right += int(interpreter.get_tensor(out["index"]).argmax() == label)
    return right / len(y)


def run(size: str = "full") -> Result:
    photos, side, recipe, warmup, rounds = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = trained_run(Path(tmp), photos, side, recipe)
        brought, splits = load_model_data(resolve_model(run_dir))
        count = brought.config.edge.calibration_examples
        sides = {  # edge.optimize prints as it would for a user
            "edge.optimize": lambda: optimize(brought, splits, Path(tmp) / "edge", "1"),
            "plain script": lambda: plain_script(brought.model, splits, count),
        }
        samples = alternate(sides, rounds, warmup)
    ours, plain = samples.values()
    rows = [[name, f"{s.median():.1f}", f"{s.median('cpu'):.1f}"] for name, s in samples.items()]
    steps = [result.seconds for result in ours.values]
    step_rows = [[step, f"{statistics.median(s[step] for s in steps):.3g}"] for step in steps[0]]
    tables = [Table(["side", "wall s", "CPU s"], rows), Table(["step", "s"], step_rows)]
    ratio = ours.median() / plain.median()
    figures = [Figure("edge.optimize ÷ plain script, wall", ratio, "×", GOAL, False)]
    method = f"{photos} photos, {side}×{side}; medians of {rounds} round(s) a side, alternating."
    title = "Edge: edge.optimize float32 + int8 vs the plain script"
    return Result("edge_optimize", title, method, tables, figures)
