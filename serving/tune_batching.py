"""`python -m serving.tune_batching EXPORT_VERSION_DIR`: a `--batching_parameters_file` measured.

Runs the export's signature in-process at a few batch sizes and writes TF Serving's CPU recipe,
sized by the measurement (TF Serving's batching guide, "Performance tuning", CPU-only):

- `num_batch_threads` = the CPU cores, `max_enqueued_batches` = `num_batch_threads`;
- `max_batch_size` = the knee of the measured curve: the smallest batch size reaching
  `--knee` (90 %) of the best examples/s; bigger batches only add latency;
- `allowed_batch_sizes` = the measured sizes up to the knee (padding to few shapes);
- `batch_timeout_micros` small: a tenth of the batch-1 run, at most 1 ms. Under load batches
  fill while the batch threads are busy anyway; a longer wait only delays a lone request (on
  MobileNetV2 96×96, a timeout of one batch-1 run took p50 at one client from 8 to 21 ms with
  no measurable gain at 32 clients, `benchmarks/serving_speed.py`).

The measured table is written into the file as `#` comments (text protos allow them) and printed.
Load it with `tensorflow_model_server --enable_batching --batching_parameters_file=FILE` or
`python -m serving.server --enable_batching --batching_parameters_file=FILE`.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

from serving.errors import UsageError
from serving.server.backend import tf
from serving.server.servables.batching import BatchingParameters, batching_parameters_text

MAX_TIMEOUT_MICROS = 1_000  # the bottom of TF Serving's suggested 1-10 ms range


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One batch size's median run time and the examples/s it gives."""

    batch_size: int
    median_ms: float
    examples_per_second: float


def measure_signature(export_dir: str, signature: str, batch_sizes, seconds: float):
    """The signature's median run time at each batch size, on zero inputs of its shapes."""
    try:
        loaded = tf.saved_model.load(export_dir)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"{export_dir}: not a SavedModel ({error}); pass a version folder."
        ) from error
    if signature not in loaded.signatures:
        raise UsageError(f"{export_dir} has no signature {signature!r}: {list(loaded.signatures)}")
    function = loaded.signatures[signature]
    specs = function.structured_input_signature[1]
    return [_measure(function, specs, size, seconds) for size in batch_sizes]


def _measure(function, specs: dict, batch_size: int, seconds: float) -> Measurement:
    feeds = {name: _zeros(name, spec, batch_size) for name, spec in specs.items()}
    function(**feeds)  # traced and warmed before timing
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        function(**feeds)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return Measurement(batch_size, median * 1000, batch_size / median)


def _zeros(name: str, spec, batch_size: int):
    rest = spec.shape.as_list()[1:]
    if spec.shape.rank is None or None in rest or spec.dtype == tf.string:
        raise UsageError(
            f"input {name!r} ({spec.dtype.name}, shape {spec.shape}) cannot be made up; "
            "pass --signature naming a signature of numeric inputs of fixed shape."
        )
    return tf.zeros([batch_size, *rest], spec.dtype)


def recipe(measured: list[Measurement], cores: int, knee: float) -> BatchingParameters:
    """TF Serving's CPU recipe, with the batch sizes and timeout read off the measurements."""
    best = max(m.examples_per_second for m in measured)
    knee_size = min(m.batch_size for m in measured if m.examples_per_second >= knee * best)
    single = min(measured, key=lambda m: m.batch_size)
    return BatchingParameters(
        max_batch_size=knee_size,
        batch_timeout_micros=min(MAX_TIMEOUT_MICROS, round(single.median_ms * 100)),
        max_enqueued_batches=cores,
        num_batch_threads=cores,
        allowed_batch_sizes=tuple(m.batch_size for m in measured if m.batch_size <= knee_size),
    )


def measured_table(measured: list[Measurement]) -> str:
    lines = ["batch  median ms  examples/s"]
    lines += [
        f"{m.batch_size:>5}  {m.median_ms:>9.3f}  {m.examples_per_second:>10.1f}" for m in measured
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.tune_batching",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m serving.tune_batching runs/mnv2/export/1 "
        "--output batching_parameters.txt --batch_sizes 1,4,16,32,64",
    )
    parser.add_argument("export_dir", help="an export's version folder (holds saved_model.pb)")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument(
        "--batch_sizes",
        default="1,2,4,8,16,32,64",
        help="batch sizes to measure, comma-separated, ascending",
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent per batch size")
    parser.add_argument(
        "--knee",
        type=float,
        default=0.9,
        help="share of the best examples/s the chosen max_batch_size reaches",
    )
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", default="batching_parameters.txt")
    parser.add_argument("--debug", action="store_true", help="tracebacks for errors")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sizes = sorted({int(size) for size in args.batch_sizes.split(",")})
        if not sizes or sizes[0] < 1:
            raise UsageError(f"--batch_sizes {args.batch_sizes}: give positive integers.")
        measured = measure_signature(args.export_dir, args.signature, sizes, args.seconds)
        params = recipe(measured, args.cores, args.knee)
    except (UsageError, ValueError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = measured_table(measured)
    comments = "".join(f"# {line}\n" for line in table.splitlines())
    header = f"# measured by python -m serving.tune_batching {args.export_dir} ({args.signature})\n"
    Path(args.output).write_text(header + comments + batching_parameters_text(params))
    print(table)
    print(
        f"wrote {args.output}: max_batch_size {params.max_batch_size}, "
        f"allowed_batch_sizes {list(params.allowed_batch_sizes)}, "
        f"batch_timeout_micros {params.batch_timeout_micros}, "
        f"num_batch_threads {params.num_batch_threads}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
