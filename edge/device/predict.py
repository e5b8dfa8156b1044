"""Classify `.npy` arrays and images with a `.tflite`: `python -m edge.device.predict MODEL IN...`.

Runs on a device with only numpy, a TFLite interpreter and Pillow (no TensorFlow). Prints one
row per example: its top classes and their probabilities; `--json` prints every probability.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge.device.cli import add_runtime_flags, make_parser, report_error
from edge.device.errors import EdgeError
from edge.device.runtime import EdgeModel, describe_interpreter

EXAMPLES = """examples:
  python -m edge.device.predict runs/latest/edge/model_int8.tflite digit.png
  python -m edge.device.predict runs/latest/edge/model_float32.tflite batch.npy --top 3
  python -m edge.device.predict model_int8.tflite a.png b.png --num-threads 4 --json
  python -m edge.device.predict model_int8.tflite x.npy --interpreter tflite_runtime

An input is a .npy array (one example shaped like the model's input, or a batch of them) holding
raw pixels in [0, pixel_max] as in training, or an image file, resized and scaled to that range.
model.json must sit beside the model: it gives the labels and the sha256 checked before loading.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser("python -m edge.device.predict", __doc__, EXAMPLES)
    parser.add_argument("model", type=Path, help="a .tflite file exported by edge.optimize")
    parser.add_argument("inputs", type=Path, nargs="+", help=".npy arrays or image files")
    add_runtime_flags(parser)
    parser.add_argument("--top", type=int, default=1, help="how many classes to show (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON with all probabilities")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def input_names(paths: list[Path], counts: list[int]) -> list[str]:
    """A name per example: the path as given (two `01.jpg` in two folders differ), with `[i]`
    for each example of a batch file."""
    names = []
    for path, count in zip(paths, counts, strict=True):
        if count == 1 and path.suffix.lower() != ".npy":
            names.append(str(path))
        else:
            names.extend(f"{path}[{i}]" for i in range(count))
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model = EdgeModel(
            args.model,
            num_threads=args.num_threads,
            interpreter=args.interpreter,
            verify=args.verify,
            verify_key=args.verify_key,
            decrypt_key=args.decrypt_key,
        )
        batches = [model.load_inputs([path]) for path in args.inputs]
        probabilities = model.predict(np.concatenate(batches))
    except EdgeError as err:
        return report_error(err, args.debug)
    names = input_names(args.inputs, [len(b) for b in batches])
    print(
        f"{args.model.name}: {model.input_dtype} input, interpreter "
        f"{describe_interpreter(model.interpreter_name)}",
        file=sys.stderr,
    )
    if model.fitted_images:  # once, for all of them: the answer is about the fitted pixels
        shape = "×".join(map(str, model.input_shape))
        fitted = "; ".join(model.fitted_images)
        print(f"note: images fitted to the {shape} input: {fitted}", file=sys.stderr)
    if args.json:
        rows = [
            {
                "input": name,
                "class_id": int(p.argmax()),
                "label": model.labels[int(p.argmax())],
                "probabilities": [float(v) for v in p],
            }
            for name, p in zip(names, probabilities, strict=True)
        ]
        print(json.dumps({"interpreter": model.interpreter_name, "predictions": rows}, indent=1))
        return 0
    width = max(len("input"), *(len(n) for n in names))
    print(f"{'input':<{width}}  {'class':>5}  {'label':<8} probability")
    for name, p in zip(names, probabilities, strict=True):
        order = np.argsort(-p, kind="stable")[: max(1, args.top)]
        rest = ", ".join(f"{model.labels[i]} {p[i]:.3f}" for i in order[1:])
        best = order[0]
        print(
            f"{name:<{width}}  {best:>5}  {model.labels[best]:<8} {p[best]:.3f}"
            + (f"   (then {rest})" if rest else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
