"""Single-example latency of `.tflite` files: `python -m edge.device.benchmark MODEL...`.

Like LiteRT's `benchmark_model`, per file and XNNPACK thread count (1, 2, 4 by default) it
reports the init time (load and prepare), the first inference, p50/p99 of the timed calls after
a warm-up, and the peak memory the model added (max RSS growth). Each (file, API, threads) runs in
a fresh process, so the memory is the model's alone (for CompiledModel, with the Interpreter the
runtime loads to check the file's sha256 and fit inputs counted too). APIs: the Interpreter
through the edge runtime (quantize, invoke, dequantize, as an app calls it) and, where
ai-edge-litert has it,
LiteRT 2.x's CompiledModel (float-I/O files; `--accelerator gpu|npu` on a device that has one).
Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.device.cli import add_runtime_flags, make_parser, report_error
from edge.device.compiled import ACCELERATORS, CompiledEdgeModel, compiled_model_available
from edge.device.crypto import SUFFIX
from edge.device.errors import EdgeError
from edge.device.runtime import EdgeModel, describe_interpreter

EXAMPLES = """examples:
  python -m edge.device.benchmark runs/latest/edge/model_int8.tflite
  python -m edge.device.benchmark runs/latest/edge/*.tflite --runs 500 --num-threads 1
  python -m edge.device.benchmark model_int8.tflite --input digit.png --interpreter tflite_runtime
  TFMODEL_DECRYPT_KEY=model-encryption.key python -m edge.device.benchmark models/*.tflite.enc
  python -m edge.device.benchmark runs/latest/edge/*.tflite --threads 1,4 --runs 500
  python -m edge.device.benchmark model_int8.tflite --api compiled --accelerator gpu
  python -m edge.device.benchmark model_int8.tflite --input digit.png --num-threads 1

Without --input each call gets the same random raw-pixel example. Numbers from an emulator
(qemu) or a busy machine say nothing about a real device: measure on the device itself.
"""
APIS = ("interpreter", "compiled")


@dataclass(frozen=True)
class Latency:
    """Wall-clock milliseconds per single-example call."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    runs: int


@dataclass(frozen=True)
class Benchmark:
    """One file run with one API and thread count, as benchmark_model reports it."""

    model: str
    api: str
    threads: int
    input_dtype: str
    init_ms: float
    first_ms: float
    latency: Latency
    peak_mb: float


def measure_latency(
    predict: Callable[[np.ndarray], object],
    example: np.ndarray,
    runs: int = 200,
    warmup: int = 20,
    seconds: float | None = None,
) -> Latency:
    """Time up to `runs` calls of `predict` on a batch of one `example` (shaped like the input),
    stopping once `seconds` (if given) have passed: a slow model costs its budget, not 200 calls."""
    if runs < 1:
        raise EdgeError(f"--runs is {runs}; time at least 1 call, e.g. --runs 200")
    batch = np.asarray(example, dtype=np.float32)[None]
    deadline = None if seconds is None else time.perf_counter() + seconds
    for _ in range(warmup):
        predict(batch)
        if deadline is not None and time.perf_counter() > deadline - seconds / 2:
            break  # a model this slow spends at most half its budget warming up
    times = []
    while len(times) < runs and (deadline is None or not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        predict(batch)
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1000.0
    return Latency(
        float(np.percentile(times, 50)),
        float(np.percentile(times, 99)),
        float(times.mean()),
        len(times),
    )


def random_example(model: EdgeModel, seed: int = 0) -> np.ndarray:
    """One example of uniform raw pixels in [0, pixel_max], shaped like the model's input."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, model.pixel_max, size=model.input_shape).astype(np.float32)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark_file(path: Path, api: str, threads: int, args: argparse.Namespace) -> Benchmark:
    """Load `path` with `api` at `threads`, then time init, the first call and `args.runs` calls."""
    before = peak_rss_mb()
    start = time.perf_counter()
    model = EdgeModel(
        path,
        num_threads=threads,
        interpreter=args.interpreter,
        verify=args.verify,
        verify_key=args.verify_key,
        decrypt_key=args.decrypt_key,
    )
    runner = model
    if api == "compiled":
        runner = CompiledEdgeModel(path, threads, args.accelerator)
    init_ms = (time.perf_counter() - start) * 1000.0
    example = model.load_inputs([args.input])[0] if args.input else random_example(model)
    start = time.perf_counter()
    runner.predict(example[None])
    first_ms = (time.perf_counter() - start) * 1000.0
    latency = measure_latency(runner.predict, example, args.runs, args.warmup)
    return Benchmark(
        path.name,
        api,
        threads,
        model.input_dtype,
        init_ms,
        first_ms,
        latency,
        peak_rss_mb() - before,
    )


def in_fresh_process(path: Path, api: str, threads: int, argv: list[str]) -> Benchmark:
    """`benchmark_file` in a new Python, so peak memory and init time are this file's alone."""
    command = [sys.executable, "-m", "edge.device.benchmark", str(path), "--api", api]
    command += ["--threads", str(threads), "--json", *argv]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EdgeError(done.stderr.strip().removeprefix("error: ") or f"{command} failed")
    row = json.loads(done.stdout)[0]
    return Benchmark(**{**row, "latency": Latency(**row["latency"])})


def plan(args: argparse.Namespace) -> list[tuple[Path, str, int]]:
    """Every (file, API, threads) to run: CompiledModel only where installed, for float I/O."""
    apis = APIS if args.api == "all" else (args.api,)
    if args.api == "all" and not compiled_model_available():
        apis = ("interpreter",)
    threads = [args.num_threads] if args.num_threads else [int(t) for t in args.threads.split(",")]
    return [(path, api, n) for path in args.models for api in apis for n in threads]


def make_benchmark_parser() -> argparse.ArgumentParser:
    parser = make_parser("python -m edge.device.benchmark", __doc__, EXAMPLES)
    parser.add_argument(
        "models", type=Path, nargs="+", help=".tflite files exported by edge.optimize"
    )
    parser.add_argument("--input", type=Path, help="time this .npy or image (first example)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per model (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    parser.add_argument("--threads", default="1,2,4", help="XNNPACK threads to sweep (1,2,4)")
    parser.add_argument(
        "--api",
        default="all",
        choices=["all", *APIS],
        help="interpreter, compiled (LiteRT CompiledModel) or all installed (default)",
    )
    parser.add_argument(
        "--accelerator",
        default="cpu",
        choices=ACCELERATORS,
        help="CompiledModel's accelerator; gpu/npu fall back to the CPU for unsupported ops",
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    add_runtime_flags(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return make_benchmark_parser().parse_args(argv)


# What a child gets from `in_fresh_process` itself rather than from this process's flags. Every
# runtime flag (`add_runtime_flags`) is passed on, --num-threads too: given, it is the one thread
# count `plan` sweeps, the same as the child's --threads.
PER_CHILD = {"models", "threads", "api", "json", "help"}


def shared_flags(args: argparse.Namespace) -> list[str]:
    """The flags a child process needs to time one (file, API, threads) as this one would.

    Read off the parser: every option but the per-child ones, given where it differs from its
    default, so a flag added to the runtime CLIs reaches the children without a second list.
    """
    flags = []
    for action in make_benchmark_parser()._actions:
        value = getattr(args, action.dest, None)
        if action.dest in PER_CHILD or value is None or value == action.default:
            continue
        if action.nargs == 0:  # store_true / store_false: the flag alone says it
            flags.append(action.option_strings[0])
        else:
            flags += [action.option_strings[0], str(value)]
    return flags


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    try:
        todo = plan(args)
        for path, api, threads in todo:
            if api == "compiled" and path.name.endswith(SUFFIX):
                continue  # CompiledModel opens a file by name: an encrypted one is the runtime's
            if api == "compiled" and args.api == "all" and not float_input(path, args):
                continue  # CompiledModel here takes float-I/O files; the int8-I/O one is skipped
            if len(todo) == 1:
                rows.append(benchmark_file(path, api, threads, args))
            else:
                rows.append(in_fresh_process(path, api, threads, shared_flags(args)))
    except EdgeError as err:
        return report_error(err, args.debug)
    if args.json:
        print(json.dumps([asdict(row) for row in rows]))
        return 0
    print(f"interpreter {describe_interpreter('ai_edge_litert')}, {args.runs} timed runs each")
    print(format_table(rows))
    return 0


def float_input(path: Path, args: argparse.Namespace) -> bool:
    return EdgeModel(path, interpreter=args.interpreter, verify=False).input_dtype == "float32"


def format_table(rows: list[Benchmark]) -> str:
    """One line per run: model, API, threads, init, first call, p50, p99 and peak memory."""
    width = max(len("model"), *(len(row.model) for row in rows))
    lines = [
        f"{'model':<{width}}  {'api':<11}  {'input':<7}  {'threads':>7}  {'init ms':>8}  "
        f"{'first ms':>8}  {'p50 ms':>8}  {'p99 ms':>8}  {'peak MB':>7}"
    ]
    for row in rows:
        lat = row.latency
        lines.append(
            f"{row.model:<{width}}  {row.api:<11}  {row.input_dtype:<7}  {row.threads:>7}  "
            f"{row.init_ms:8.2f}  {row.first_ms:8.3f}  {lat.p50_ms:8.3f}  {lat.p99_ms:8.3f}  "
            f"{row.peak_mb:7.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
