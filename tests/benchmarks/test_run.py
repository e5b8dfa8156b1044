"""`benchmarks` at the smoke size: every benchmark runs and gives well-formed tables of positive
figures; the machine line is read from this machine; results are data rendered into RESULTS.md.
Timings are never compared with anything.
"""

from __future__ import annotations

import math

import pytest

from benchmarks import results, run
from benchmarks.harness import alternate
from benchmarks.results import Figure, Result, Table
from edge.device.cpu import cpu_name, int8_dot_product


def numbers_in(cell: str) -> list[float]:
    """The number a cell starts with (`0.25`, `1.2e+03`, `3.1 ×`); none for text such as `gRPC`."""
    try:
        return [float(cell.split()[0])] if cell else []
    except ValueError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("name", run.BENCHMARKS)
def test_each_benchmark_gives_well_formed_tables_of_positive_figures(smoke, name):
    result = smoke[name]
    assert result.benchmark == name and result.tables and result.figures
    for t in result.tables:
        assert t.rows and all(len(row) == len(t.columns) for row in t.rows)
        for row in t.rows:
            for column, cell in zip(t.columns, row, strict=True):
                if "Δ" not in column:  # differences from a reference may be zero or negative
                    assert all(math.isfinite(v) and v > 0 for v in numbers_in(cell)), (column, cell)
    assert all(math.isfinite(f.value) and f.value > 0 for f in result.figures)


@pytest.mark.slow
def test_every_interpreter_gives_the_same_probabilities_for_the_same_file(smoke):
    (calls,) = smoke["edge_calls"].tables
    column = calls.columns.index("max Δp vs tf.lite")
    for row in calls.rows:
        if row[1] != "—":  # int8 outputs step by 1/256: one step of kernel rounding is allowed
            assert float(row[column]) <= (1e-6 if row[1] == "float32" else 1 / 256 + 1e-6), row


def test_the_machine_line_is_read_from_this_machine():
    line = results.describe_machine("1.0 1.0 1.0")
    assert cpu_name() in line and int8_dot_product() in line and "tensorflow" in line
    assert "load average 1.0 1.0 1.0 at start" in line


def test_alternate_takes_turns_in_rotating_order():
    order = []
    samples = alternate({side: lambda s=side: order.append(s) for side in "abc"}, 3, warmup=1)
    assert order == list("abcabcbcacab")
    assert all(len(s.wall) == len(s.cpu) == len(s.values) == 3 for s in samples.values())


def test_a_figure_is_met_by_its_floor_or_ceiling():
    assert Figure("ratio", 2.0, "×", 2.0).met and not Figure("ratio", 1.9, "×", 2.0).met
    assert Figure("overhead", 0.8, "µs", 1.0, at_least=False).met
    assert results.figure_row("b", Figure("overhead", 1.2, "µs", 1.0, False))[3:] == [
        "≤ 1 µs",
        "**no**",
    ]


def test_a_new_run_replaces_figures_and_keeps_the_notes_people_wrote(tmp_path):
    path = tmp_path / "results.json"
    old = Result("b", "B", "how", [Table(["x"], [[1]])], [Figure("m", 1.0, "×", 2.0)])
    old.notes = [{"about": "then", "text": "why it missed"}]
    results.save_result(old, path)
    results.save_result(Result("b", "B", "how", [Table(["x"], [[2]])], []), path)
    (new,) = results.load_results(path).values()
    assert new.tables[0].rows == [["2"]] and new.figures == [] and new.notes == old.notes
    assert "Notes on the run of then: why it missed" in results.render({"b": new}, [])


def test_results_md_is_rendered_from_results_json():
    rendered = results.render(results.load_results(), list(run.BENCHMARKS))
    assert results.RESULTS_MD.read_text() == rendered, "run `python -m benchmarks.results`"


def test_help_lists_the_benchmarks(capsys):
    with pytest.raises(SystemExit) as stop:
        run.parse_args(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and all(name in out for name in run.BENCHMARKS)
