"""What the benchmarks share: the machine they ran on, a Markdown table, a figure measured
against the goal it must reach, and their own section of benchmarks/RESULTS.md (each benchmark
replaces its section and leaves the others alone).

Every benchmark module has `run(size) -> Section`, size one of SIZES: `smoke` (seconds, for the
test), `quick` (a minute or so) or `full`; `benchmarks.run` calls them all.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SHARED_NOTE = "a machine shared with other jobs, so compare rows measured together, not machines"
SIZES = ("smoke", "quick", "full")
VERSIONED = ("tensorflow", "tf-keras", "numpy", "ai-edge-litert", "grpcio")


@dataclass(frozen=True)
class Figure:
    """One measured figure and the goal it must reach, e.g. 2.4 × against "at least 2 ×"."""

    benchmark: str
    measure: str
    value: float
    unit: str  # "×" for ratios, "µs", "ms"
    goal: float
    at_least: bool = True  # the goal is a floor (ratios), else a ceiling (overheads)
    why: str = ""  # if missed: why, and what would close the gap

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def cells(self) -> list[str]:
        """benchmark, measure, value, goal, met — as table cells."""
        sign = "≥" if self.at_least else "≤"
        return [
            self.benchmark,
            self.measure,
            f"{self.value:.3g} {self.unit}",
            f"{sign} {self.goal:g} {self.unit}",
            "yes" if self.met else "**no**",
        ]


@dataclass
class Section:
    """A benchmark's result: its RESULTS.md section, its table, and the figures with goals."""

    heading: str  # "## ...", the section's first line
    text: str  # the whole section, heading and table included
    table: str  # its Markdown table
    figures: list[Figure] = field(default_factory=list)


def check_size(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"size {size!r} is unknown: use one of {SIZES}")


def describe_versions() -> str:
    """E.g. `Python 3.11.7, tensorflow 2.21.0, tf-keras 2.21.0, …` for what is installed."""
    found = []
    for name in VERSIONED:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join([f"Python {platform.python_version()}", *found])


def describe_machine(when: str = "at start") -> str:
    """E.g. `2 cores, AMD EPYC (x86_64), load average 1.7 at start`: the one-minute load average
    now, labelled `when` it was taken."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: keep platform's name
    load = f", load average {os.getloadavg()[0]:.1f} {when}" if hasattr(os, "getloadavg") else ""
    return f"{os.cpu_count()} cores, {model} ({platform.machine()}){load}"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """`rows` (cells already formatted, or anything `str` gives) under `columns`, as Markdown."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


AT_THE_END = "at the end, its own work included"


def section_text(heading: str, method: str, *blocks: str, machine: str | None = None) -> str:
    """A RESULTS.md section: `heading`; `method` (how it was measured) with the machine and
    SHARED_NOTE after it; then each of `blocks` (tables, notes) as its own paragraph.

    The machine is described as the text is written (its load average then includes the
    benchmark's own work), unless `machine` gives it: taken before the measuring began, or with
    facts beside it (TensorFlow's threads, the versions).
    """
    machine = describe_machine(AT_THE_END) if machine is None else machine
    return "\n\n".join([heading, f"{method} {machine}; {SHARED_NOTE}.", *blocks]) + "\n"


def write_section(heading: str, text: str, results: Path = RESULTS) -> None:
    """Replace the section that starts with `heading` in `results` (or append it).

    A section runs from its `## ` heading to the next one; `text` starts with `heading`.
    """
    old = results.read_text() if results.exists() else "# Benchmark results\n"
    text = text.rstrip("\n") + "\n\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text + (old[end + 1 :] if end >= 0 else "")
    results.write_text(new.rstrip("\n") + "\n")


FIGURE_COLUMNS = ["benchmark", "measure", "value", "goal", "met"]


def figures_table(figures: Sequence[Figure]) -> str:
    """Every figure against its goal, one row each, then why each missed goal was missed."""
    table = markdown_table(FIGURE_COLUMNS, [f.cells() for f in figures])
    missed = [f"- {f.benchmark}, {f.measure}: {f.why}" for f in figures if not f.met and f.why]
    return table + ("\n\nWhere a goal is missed:\n\n" + "\n".join(missed) if missed else "")


def write_results(header: str, sections: Sequence[Section], results: Path = RESULTS) -> None:
    """Rewrite `results` whole: `header` (title, machine, summary), then every section."""
    body = "\n\n".join(s.text.strip("\n") for s in sections)
    results.write_text(header.strip("\n") + "\n\n" + body + "\n")


def benchmark_parser(name: str, description: str, epilog: str | None = None):
    """`python -m benchmarks.<name>`'s command line with its `--quick` flag; add the rest."""
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{name}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds; print only (RESULTS.md untouched)"
    )
    return parser


def print_and_record(result: Section, quick: bool) -> int:
    """Print a benchmark's section; a full run also replaces it in RESULTS.md, and its figures'
    rows in the summary. Exit status 0."""
    print(result.text)
    if not quick:
        write_section(result.heading, result.text)
        write_summary_figures(result.figures)
    return 0


SUMMARY_HEADING = "## Summary: each figure against its goal"
MISSED_INTRO = "Where a goal is missed:"


def write_summary_figures(figures: Sequence[Figure], results: Path = RESULTS) -> None:
    """Put `figures` in RESULTS.md's summary: each replaces the row (and the why) of the figure
    with its benchmark and measure, or is added at the end, so a benchmark run on its own keeps
    the summary current. Nothing happens while RESULTS.md has no summary (`benchmarks.run`
    writes one)."""
    old = results.read_text() if results.exists() else ""
    start = old.find(SUMMARY_HEADING)
    if start < 0 or not figures:
        return
    end = old.find("\n## ", start + len(SUMMARY_HEADING))
    end = len(old) if end < 0 else end + 1
    summary = old[start:end]
    rows, whys = [], []
    new_keys = {(f.benchmark, f.measure) for f in figures}
    for line in summary.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(FIGURE_COLUMNS) and cells[0] != "benchmark":
            if (cells[0], cells[1]) not in new_keys:
                rows.append(line)
        elif line.startswith("- ") and not any(
            line.startswith(f"- {benchmark}, {measure}: ") for benchmark, measure in new_keys
        ):
            whys.append(line)
    rows += ["| " + " | ".join(f.cells()) + " |" for f in figures]
    whys += [f"- {f.benchmark}, {f.measure}: {f.why}" for f in figures if not f.met and f.why]
    header = "| " + " | ".join(FIGURE_COLUMNS) + " |\n|" + "---|" * len(FIGURE_COLUMNS)
    text = f"{SUMMARY_HEADING}\n\n{header}\n" + "\n".join(rows) + "\n"
    text += f"\n{MISSED_INTRO}\n\n" + "\n".join(whys) + "\n" if whys else ""
    results.write_text(old[:start] + text + "\n" + old[end:].lstrip("\n"))


def quick_or_full_main(
    name: str, description: str, run: Callable[[str], Section], argv=None
) -> int:
    """The command line of a benchmark with no flags of its own."""
    args = benchmark_parser(name, description).parse_args(argv)
    return print_and_record(run("quick" if args.quick else "full"), args.quick)
