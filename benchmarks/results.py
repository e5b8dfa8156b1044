"""Results as data: each benchmark's tables and figures against goals, the machine they were
measured on, kept in results.json and rendered into RESULTS.md (never read back from Markdown).
An entry's `notes` are written by a person into results.json after a run (why a goal is missed,
what was tried); code keeps them when it replaces the entry's figures and never writes one.
"""

import contextlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from edge.device.cpu import describe_cpu

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
SIZES = ("smoke", "quick", "full")  # each module's `run(size)`: seconds (tests), a minute, all
VERSIONED = ("tensorflow", "tf-keras", "keras", "numpy", "ai-edge-litert", "grpcio")


@dataclass(frozen=True)
class Figure:
    """One measured figure and its goal, e.g. 2.4 × against a floor of 2 ×."""

    measure: str
    value: float
    unit: str  # "×" for ratios, "µs", "ms", "s", "MB"
    goal: float
    at_least: bool = True  # the goal is a floor (ratios), else a ceiling (overheads)

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal


@dataclass
class Table:
    """Rows of cells under `columns`; a cell is anything `str` gives."""

    columns: list[str]
    rows: list[list[str]]

    def __post_init__(self):
        self.columns, self.rows = list(self.columns), [[str(c) for c in r] for r in self.rows]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in self.rows])


@dataclass
class Result:
    """One benchmark's run: `method` says how it was measured; `tables` what it measured."""

    benchmark: str  # the module's name
    title: str
    method: str
    tables: list[Table]
    figures: list[Figure] = field(default_factory=list)
    size: str = ""
    date: str = ""
    machine: str = ""
    notes: list[dict[str, str]] = field(default_factory=list)  # {"about": date, "text": ...}


def describe_versions() -> str:
    """E.g. `Python 3.11.7, tensorflow 2.21.0, …` for what is installed."""
    found = [f"Python {platform.python_version()}"]
    for name in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. `1.2 0.9 0.7`."""
    return " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def describe_machine(load_at_start: str) -> str:
    """CPU name, cores, int8 dot-product flags, load at start and now, versions: read now."""
    load = f"load average {load_at_start} at start, {load_average()} at end"
    return f"{describe_cpu()}; {load}; {describe_versions()}"


def load_results(path: Path = RESULTS_JSON) -> dict[str, Result]:
    entries = json.loads(path.read_text()) if path.exists() else {}
    for entry in entries.values():
        entry["tables"] = [Table(**t) for t in entry["tables"]]
        entry["figures"] = [Figure(**f) for f in entry["figures"]]
    return {name: Result(**entry) for name, entry in entries.items()}


def save_result(result: Result, path: Path = RESULTS_JSON) -> None:
    """Replace the benchmark's entry, keeping the notes people wrote on earlier runs."""
    results = load_results(path)
    if result.benchmark in results:
        result.notes = results[result.benchmark].notes + result.notes
    results[result.benchmark] = result
    document = {name: asdict(r) for name, r in sorted(results.items())}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def figure_row(benchmark: str, f: Figure) -> list[str]:
    sign = "≥" if f.at_least else "≤"
    value, goal = f"{f.value:.3g} {f.unit}".strip(), f"{sign} {f.goal:g} {f.unit}".strip()
    return [benchmark, f.measure, value, goal, "yes" if f.met else "**no**"]


FIGURE_COLUMNS = ["benchmark", "measure", "value", "goal", "met"]


def render_section(r: Result) -> str:
    """A result as Markdown: heading, method, machine, tables, figures and the people's notes."""
    command = f"`python -m benchmarks.run --only {r.benchmark}` ({r.size}, {r.date})"
    blocks = [f"## {r.title}", f"{command}: {r.method}", f"Machine: {r.machine}."]
    blocks += [t.markdown() for t in r.tables]
    if r.figures:
        figures = Table(FIGURE_COLUMNS, [figure_row(r.benchmark, f) for f in r.figures])
        blocks.append(figures.markdown())
    blocks += [f"Notes on the run of {n['about']}: {n['text']}" for n in r.notes]
    return "\n\n".join(blocks)


def render(results: dict[str, Result], order: list[str]) -> str:
    """RESULTS.md: every figure against its goal, then each benchmark's section, in `order`."""
    ordered = [results[n] for n in order if n in results]
    ordered += [r for n, r in results.items() if n not in order]
    rows = [[*figure_row(r.benchmark, f), r.date] for r in ordered for f in r.figures]
    summary = Table([*FIGURE_COLUMNS, "measured"], rows)
    head = "# Benchmark results\n\nRendered from results.json by `python -m benchmarks.results`."
    sections = "\n\n".join(render_section(r) for r in ordered)
    return f"{head}\n\n## Summary\n\n{summary.markdown()}\n\n{sections}\n"


def write_markdown(json_path: Path = RESULTS_JSON, md_path: Path = RESULTS_MD) -> None:
    from benchmarks.run import BENCHMARKS

    md_path.write_text(render(load_results(json_path), list(BENCHMARKS)))


if __name__ == "__main__":
    write_markdown()
    print(f"wrote {RESULTS_MD}")
