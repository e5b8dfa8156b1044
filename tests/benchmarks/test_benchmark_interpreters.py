"""benchmarks/interpreters.py at a tiny size: one file under every interpreter, the table.

Timings are never asserted, only how they are combined, and that every interpreter gives the
same probabilities for the same file.
"""

from __future__ import annotations

import statistics

import pytest

pytest.importorskip("tensorflow")

from edge.convert import calibration_examples, convert_model  # noqa: E402
from tfmodel.config import ModelConfig, RegularizerConfig  # noqa: E402
from tfmodel.models import build_model  # noqa: E402


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("interpreters")


@pytest.fixture(scope="module")
def rows(bench, digits_splits):
    """float32 and int8 of a tiny digits MLP, 3 rounds of 20 calls under each interpreter."""
    model = build_model(
        ModelConfig(hidden_units=[8]), RegularizerConfig(kind="none"), (8, 8, 1), 10, 16.0
    )
    calibration = calibration_examples(digits_splits.x_train, count=50)
    interpreters = bench.available_interpreters()
    result = []
    for kind in ("float32", "int8"):
        content = convert_model(model, "pixels", kind, calibration)
        result += bench.measure_file("tiny", kind, content, interpreters, runs=20, rounds=3)
    return result


def test_baseline_first_and_litert_measured(bench, rows):
    interpreters = bench.available_interpreters()
    assert interpreters[0] == "tensorflow"
    assert "ai_edge_litert" in interpreters  # a project dependency
    assert [(r.kind, r.interpreter) for r in rows] == [
        (kind, i) for kind in ("float32", "int8") for i in interpreters
    ]


def test_rounds_and_ratios(bench, rows):
    for row in rows:
        for p50, p99 in ((row.predict_p50, row.predict_p99), (row.invoke_p50, row.invoke_p99)):
            assert len(p50) == len(p99) == 3
            assert all(0 < a <= b for a, b in zip(p50, p99, strict=True))
        base = next(b for b in rows if b.kind == row.kind and b.interpreter == "tensorflow")
        paired = [a / b for a, b in zip(row.invoke_p50, base.invoke_p50, strict=True)]
        assert bench.ratio_to_baseline(row, rows, "invoke") == pytest.approx(
            statistics.median(paired)
        )
        if row.interpreter == "tensorflow":
            assert bench.ratio_to_baseline(row, rows, "predict") == 1.0


def test_interpreters_agree_on_the_same_file(rows):
    for row in rows:
        # int8 outputs step by 1/256; allow one step of kernel rounding between builds.
        assert row.max_difference <= (1e-6 if row.kind == "float32" else 1 / 256 + 1e-6)


def test_table_has_a_row_per_file_and_interpreter(bench, rows):
    lines = bench.format_table(rows).splitlines()
    assert lines[0] == "| " + " | ".join(bench.COLUMNS) + " |"
    assert len(lines) == 2 + len(rows)
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells[:4] == ["tiny", "float32", f"{rows[0].kilobytes:.1f}", "tf.lite"]
    assert cells[6] == "1.000" and cells[9] == "1.000"


def test_help_exits_cleanly(bench, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(["--help"])
    assert stop.value.code == 0
    assert "--quick" in capsys.readouterr().out
