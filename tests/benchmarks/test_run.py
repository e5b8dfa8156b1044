"""`python -m benchmarks.run` at its smallest: every benchmark runs, its table is well formed and
every figure in it is a positive finite number. Timings are never compared with anything.
"""

from __future__ import annotations

import math

import pytest

from benchmarks import run as harness
from benchmarks.results import (
    FIGURE_COLUMNS,
    SUMMARY_HEADING,
    Figure,
    Section,
    figures_table,
    write_summary_figures,
)


def table_rows(table: str) -> tuple[list[str], list[list[str]]]:
    """The header and the body rows of a Markdown table, cells stripped."""
    lines = table.strip().splitlines()
    assert set(lines[1].strip("|").split("|")) == {"---"}
    header, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    del rows[0]  # the ---|--- line
    return header, rows


def numbers_in(cell: str) -> list[float]:
    """The numbers a cell holds: `0.25`, `1.2e+03`, `3.1 ×`; none for text such as `gRPC`."""
    try:
        return [float(cell.split()[0])] if cell else []
    except ValueError:
        return []


class SmokeRuns(dict):
    """Each benchmark's smoke section, run when first asked for, so each test's timeout covers
    the benchmarks it runs, not all of them."""

    def __init__(self, load_benchmark):
        super().__init__()
        self.load_benchmark = load_benchmark

    def __missing__(self, name: str) -> Section:
        self[name] = self.load_benchmark(name).run("smoke")
        return self[name]

    def all(self) -> dict[str, Section]:
        return {name: self[name] for name in harness.BENCHMARKS}


@pytest.fixture(scope="module")
def sections(load_benchmark) -> SmokeRuns:
    return SmokeRuns(load_benchmark)


@pytest.mark.slow
@pytest.mark.parametrize("name", harness.BENCHMARKS)
def test_each_benchmark_gives_a_well_formed_table_of_positive_figures(sections, name):
    section = sections[name]
    assert section.text.startswith(section.heading + "\n") and section.table in section.text
    header, rows = table_rows(section.table)
    assert rows and all(len(row) == len(header) for row in rows)
    for row in rows:
        for column, cell in zip(header, row, strict=True):
            if "Δ" in column:  # differences from a reference may be zero or negative
                continue
            for value in numbers_in(cell):
                assert math.isfinite(value) and value > 0, (name, column, cell)
    for figure in section.figures:
        assert math.isfinite(figure.value) and figure.value > 0, figure


@pytest.mark.slow
def test_results_header_lists_every_figure_against_its_goal(sections):
    every = sections.all()  # each already run by the test above, in the same worker
    top = harness.header(list(every.values()), "smoke")
    figures = [f for s in every.values() for f in s.figures]
    assert {f.benchmark for f in figures} == {
        "training",
        "optimizers",
        "edge",
        "serving",
        "input_pipeline",
        "photos",
    }
    header, rows = table_rows(top.split("\n\n")[3])
    assert header == FIGURE_COLUMNS and len(rows) == len(figures)
    assert all(row[4] in ("yes", "**no**") for row in rows)


def test_a_figure_is_met_by_its_floor_or_ceiling():
    assert Figure("b", "ratio", 2.0, "×", 2.0).met
    assert not Figure("b", "ratio", 1.9, "×", 2.0).met
    assert Figure("b", "overhead", 0.8, "µs", 1.0, at_least=False).met
    assert Figure("b", "overhead", 1.2, "µs", 1.0, at_least=False).cells()[3:] == [
        "≤ 1 µs",
        "**no**",
    ]


def test_help_lists_the_benchmarks(capsys):
    with pytest.raises(SystemExit) as stop:
        harness.parse_args(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and all(name in out for name in harness.BENCHMARKS)


def test_the_summary_says_why_each_missed_goal_was_missed():
    met = Figure("b", "fast", 3.0, "×", 2.0, why="never shown")
    missed = Figure("b", "slow", 1.5, "×", 2.0, why="the per-epoch work")
    text = figures_table([met, missed])
    assert text.endswith("Where a goal is missed:\n\n- b, slow: the per-epoch work")
    assert "never shown" not in text


def test_a_benchmark_run_alone_updates_its_rows_of_the_summary(tmp_path):
    """Its figure's row and why are replaced, a new figure is added, the rest stays put."""
    old = [
        Figure("training", "ours ÷ fit", 0.5, "×", 1.0, why="was slow"),
        Figure("edge", "size", 0.2, "×", 0.3, at_least=False),
    ]
    results = tmp_path / "RESULTS.md"
    later = "## Training\n\ntext of the section\n"
    results.write_text(
        f"# Benchmark results\n\n{SUMMARY_HEADING}\n\n{figures_table(old)}\n\n{later}"
    )
    new = [
        Figure("training", "ours ÷ fit", 0.9, "×", 1.0, why="still slow"),
        Figure("serving", "p50", 3.0, "ms", 1.0, at_least=False, why="Python"),
    ]
    write_summary_figures(new, results)
    text = results.read_text()
    summary = text[text.index(SUMMARY_HEADING) : text.index("## Training")]
    assert summary.split("\n", 2)[2].strip() == figures_table([old[1], *new])
    assert text.endswith(later) and "was slow" not in text
