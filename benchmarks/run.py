"""Every benchmark in one process, one table of ratios against their goals, and RESULTS.md.

    python -m benchmarks.run            # full run, ~25 min on 2 cores; rewrites RESULTS.md
    python -m benchmarks.run --quick    # under 3 min; prints only (RESULTS.md keeps the full run)

Each benchmark warms up, repeats, takes turns between the sides it compares within this one
process and reports medians, so its ratios hold on a shared machine where absolute times do not.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import datetime, timezone

from benchmarks.results import (
    AT_THE_END,
    RESULTS,
    SUMMARY_HEADING,
    Section,
    describe_machine,
    describe_versions,
    figures_table,
    section_text,
    write_results,
)

BENCHMARKS = (
    "training_speed",
    "training_mobilenet",
    "optimizer_speed",
    "interpreters",
    "edge_sizes",
    "edge_calls",
    "edge_encryption",
    "edge_mobilenet",
    "serving_speed",
    "serving_model_cost",
    "client_start",
    "input_pipeline",
    "training_photos",
)
EXAMPLES = """examples:
  python -m benchmarks.run --quick
  python -m benchmarks.run
  python -m benchmarks.run --quick --only serving_speed edge_calls
  python -m benchmarks.optimizer_speed --steps 400 --rounds 9     # one benchmark, its own flags
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.splitlines()[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds; print only, RESULTS.md untouched"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}); print only",
    )
    return parser.parse_args(argv)


def run_all(names: tuple[str, ...], size: str) -> list[Section]:
    """Each benchmark's `run(size)` in turn, with progress on stdout."""
    sections = []
    for name in names:
        start = time.perf_counter()
        print(f"[{name}] running ({size})", flush=True)
        sections.append(importlib.import_module(f"benchmarks.{name}").run(size))
        print(sections[-1].table, f"\n[{name}] {time.perf_counter() - start:.0f} s\n", flush=True)
    return sections


def header(sections: list[Section], size: str) -> str:
    """RESULTS.md's top: the machine line and the summary table of figures against goals."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figures = [f for s in sections for f in s.figures]
    return section_text(
        "# Benchmark results",
        f"`python -m benchmarks.run` ({size}), {date}:",
        SUMMARY_HEADING,
        figures_table(figures),
        machine=f"{describe_machine(AT_THE_END)}; {describe_versions()}",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = "quick" if args.quick else "full"
    start = time.perf_counter()
    sections = run_all(tuple(args.only or BENCHMARKS), size)
    top = header(sections, size)
    print(top, f"\nall benchmarks: {time.perf_counter() - start:.0f} s", flush=True)
    if args.quick or args.only:
        print(f"{RESULTS} left as it was (a full run of every benchmark rewrites it)")
    else:
        write_results(top, sections)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
