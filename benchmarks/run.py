"""Run benchmarks in one process and print what each measured against its goals; a full run
also records each result in benchmarks/results.json and renders RESULTS.md.

examples:
  python -m benchmarks.run                 # every benchmark, full size (~25 min on 2 cores)
  python -m benchmarks.run --quick         # fewer rounds; prints only
  python -m benchmarks.run --quick --only serving_speed edge_calls
  python -m benchmarks.results             # RESULTS.md again from results.json
"""

import argparse
import importlib
import inspect
import sys
import time
from datetime import datetime, timezone

from benchmarks import results

BENCHMARKS = (  # by stage: training, edge, serving
    *("training_speed", "training_photos", "stage_memory", "optimizer_speed", "input_pipeline"),
    *("edge_calls", "edge_sizes", "edge_encryption", "edge_mobilenet", "edge_optimize"),
    *("serving_speed", "client_start"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds; print, record nothing")
    sizes = "default full (--quick: quick); smoke takes seconds, as the tests run it"
    parser.add_argument("--size", choices=results.SIZES, help=sizes)
    names = ", ".join(BENCHMARKS)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help=names)
    return parser.parse_args(argv)


def measure(name: str, size: str) -> results.Result:
    """One benchmark's `run(size)`, stamped with its docstring (the method), date and machine."""
    load, module = results.load_average(), importlib.import_module(f"benchmarks.{name}")
    result = module.run(size)
    result.method = f"{inspect.cleandoc(module.__doc__)}\n\n{result.method}"
    result.size = size
    result.date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result.machine = results.describe_machine(load)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    for name in args.only or BENCHMARKS:
        start = time.perf_counter()
        print(f"[{name}] running ({size})", flush=True)
        result = measure(name, size)
        elapsed = f"[{name}] {time.perf_counter() - start:.0f} s"
        print(results.render_section(result), elapsed, sep="\n\n")
        if size == "full":
            results.save_result(result)
    if size == "full":
        results.write_markdown()
        print("recorded in benchmarks/results.json, rendered into benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
