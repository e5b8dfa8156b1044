"""Run benchmarks in one process and print what each measured against its goals.

A full run also records each result in benchmarks/results.json and renders RESULTS.md.

    python -m benchmarks.run                 # every benchmark, full size (~25 min on 2 cores)
    python -m benchmarks.run --quick         # fewer rounds; prints only
    python -m benchmarks.edge_calls --quick  # one benchmark (the same as --only edge_calls)
"""

import argparse
import importlib
import inspect
import sys
import time
from datetime import datetime, timezone

from benchmarks.results import (
    SIZES,
    Result,
    describe_machine,
    load_average,
    render_section,
    save_result,
    write_markdown,
)

BENCHMARKS = (  # by stage: training, edge, serving
    *("training_speed", "training_photos", "stage_memory", "optimizer_speed", "input_pipeline"),
    *("edge_calls", "edge_sizes", "edge_encryption", "edge_mobilenet", "edge_optimize"),
    *("serving_speed", "client_start"),
)
EXAMPLES = """examples:
  python -m benchmarks.run --quick --only serving_speed edge_calls
  python -m benchmarks.results            # RESULTS.md again from results.json
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.splitlines()[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds; print, record nothing")
    parser.add_argument(
        "--size",
        choices=SIZES,
        help="default full (--quick: quick); smoke takes seconds, as the tests run it",
    )
    names = ", ".join(BENCHMARKS)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help=names)
    return parser.parse_args(argv)


def measure(name: str, size: str) -> Result:
    """One benchmark's `run(size)`, stamped with its docstring (the method), the date and the
    machine read around it."""
    load, module = load_average(), importlib.import_module(f"benchmarks.{name}")
    result = module.run(size)
    result.method = f"{inspect.cleandoc(module.__doc__)}\n\n{result.method}"
    result.size = size
    result.date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result.machine = describe_machine(load)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    for name in args.only or BENCHMARKS:
        start = time.perf_counter()
        print(f"[{name}] running ({size})", flush=True)
        result = measure(name, size)
        print(render_section(result), f"[{name}] {time.perf_counter() - start:.0f} s", sep="\n\n")
        if size == "full":
            save_result(result)
    if size == "full":
        write_markdown()
        print("recorded in benchmarks/results.json, rendered into benchmarks/RESULTS.md")
    return 0


def main_one(name: str) -> int:
    """`python -m benchmarks.<name> [--quick | --size S]`: this one benchmark."""
    return main(["--only", name, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
