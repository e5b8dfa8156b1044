"""Single-example latency of `.tflite` files: `python -m edge.device.benchmark MODEL...`.

Times one example per call through the edge runtime (quantize, invoke, dequantize), as an app on
the device would, after a warm-up, and prints p50/p99/mean in milliseconds. Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.device.cli import add_runtime_flags, make_parser, report_error
from edge.device.errors import EdgeError
from edge.device.runtime import EdgeModel, describe_interpreter

EXAMPLES = """examples:
  python -m edge.device.benchmark runs/latest/edge/model_int8.tflite
  python -m edge.device.benchmark runs/latest/edge/*.tflite --runs 500 --num-threads 1
  python -m edge.device.benchmark model_int8.tflite --input digit.png --interpreter tflite_runtime
  TFMODEL_DECRYPT_KEY=model-encryption.key python -m edge.device.benchmark models/*.tflite.enc

Without --input each call gets the same random raw-pixel example. Numbers from an emulator
(qemu) or a busy machine say nothing about a real device: measure on the device itself.
"""


@dataclass(frozen=True)
class Latency:
    """Wall-clock milliseconds per single-example call."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    runs: int


def measure_latency(
    predict: Callable[[np.ndarray], object], example: np.ndarray, runs: int = 200, warmup: int = 20
) -> Latency:
    """Time `runs` calls of `predict` on a batch of one `example` (shaped like the input)."""
    if runs < 1:
        raise EdgeError(f"--runs is {runs}; time at least 1 call, e.g. --runs 200")
    batch = np.asarray(example, dtype=np.float32)[None]
    for _ in range(warmup):
        predict(batch)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        predict(batch)
        times[i] = time.perf_counter() - start
    times *= 1000.0
    return Latency(
        float(np.percentile(times, 50)), float(np.percentile(times, 99)), float(times.mean()), runs
    )


def random_example(model: EdgeModel, seed: int = 0) -> np.ndarray:
    """One example of uniform raw pixels in [0, pixel_max], shaped like the model's input."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, model.pixel_max, size=model.input_shape).astype(np.float32)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser("python -m edge.device.benchmark", __doc__, EXAMPLES)
    parser.add_argument(
        "models", type=Path, nargs="+", help=".tflite files exported by edge.optimize"
    )
    parser.add_argument("--input", type=Path, help="time this .npy or image (first example)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per model (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    add_runtime_flags(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    try:
        for path in args.models:
            model = EdgeModel(
                path,
                num_threads=args.num_threads,
                interpreter=args.interpreter,
                verify=args.verify,
                verify_key=args.verify_key,
                decrypt_key=args.decrypt_key,
            )
            example = model.load_inputs([args.input])[0] if args.input else random_example(model)
            latency = measure_latency(model.predict, example, args.runs, args.warmup)
            rows.append((path.name, model.input_dtype, model.interpreter_name, latency))
    except EdgeError as err:
        return report_error(err, args.debug)
    width = max(len("model"), *(len(name) for name, *_ in rows))
    threads = args.num_threads or "default"
    print(f"interpreter {describe_interpreter(rows[0][2])}, threads {threads}, {args.runs} runs")
    print(f"{'model':<{width}}  {'input':<7}  {'p50 ms':>8}  {'p99 ms':>8}  {'mean ms':>8}")
    for name, dtype, _, lat in rows:
        print(
            f"{name:<{width}}  {dtype:<7}  {lat.p50_ms:8.3f}  {lat.p99_ms:8.3f}  {lat.mean_ms:8.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
