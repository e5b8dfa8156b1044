"""benchmarks/optimizer_speed.py at a tiny size: twin models, timed rounds, the table.

Timings are never asserted, only how they are combined, and that the twins really are twins:
the same rule from the same weights on the same batches gives the same loss.
"""

from __future__ import annotations

import statistics

import pytest

from tfmodel.config import OptimizerConfig


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("optimizer_speed")


@pytest.fixture(scope="module")
def comparisons(bench):
    tiny = bench.Workload("tiny digits MLP", "sklearn:digits", hidden_units=(8,))
    splits = bench.load_workload(tiny)
    return [
        bench.compare(tiny, splits, "SGD", OptimizerConfig(name="sgd", learning_rate=0.1), 4, 3),
        bench.compare(tiny, splits, "Adam", OptimizerConfig(name="adam", learning_rate=1e-3), 4, 3),
    ]


@pytest.mark.slow
def test_every_round_is_timed_and_ratios_come_from_medians(comparisons):
    for c in comparisons:
        for timing in (c.ours, c.keras):
            assert len(timing.wall) == len(timing.cpu) == 3
            assert min(timing.wall + timing.cpu) > 0
        wall = statistics.median(c.keras.wall) / statistics.median(c.ours.wall)
        assert c.wall_ratio == pytest.approx(wall)
        assert c.cpu_ratio == pytest.approx(
            statistics.median(c.keras.cpu) / statistics.median(c.ours.cpu)
        )
        assert c.ours_steps_per_s / c.keras_steps_per_s == pytest.approx(wall)
        assert c.ours_steps_per_s == pytest.approx(4 / statistics.median(c.ours.wall))


def test_twins_reach_the_same_loss(comparisons):
    sgd, adam = comparisons
    assert sgd.ours_loss == pytest.approx(sgd.keras_loss, abs=1e-6)  # the very same rule
    # Keras adds ε to √v, ours to √v̂ (ε/√(1−β2ᵗ) apart), which moves weights whose gradients
    # are tiny a little differently: the losses agree to far better than 0.1%, not exactly.
    assert adam.ours_loss == pytest.approx(adam.keras_loss, rel=1e-3)
    assert adam.ours_loss != pytest.approx(sgd.ours_loss, abs=1e-3)  # the optimizers did differ


def test_table_has_a_row_per_comparison(bench, comparisons):
    lines = bench.format_table(comparisons).splitlines()
    assert lines[0] == "| " + " | ".join(bench.COLUMNS) + " |"
    assert len(lines) == 2 + len(comparisons)
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert len(cells) == len(bench.COLUMNS)
    assert cells[:2] == ["tiny digits MLP", "SGD"]
    assert float(cells[4]) == pytest.approx(comparisons[0].wall_ratio, abs=1e-3)
    assert float(cells[5]) == pytest.approx(comparisons[0].cpu_ratio, abs=1e-3)


def test_absent_mnist_folder_skips_its_row(bench, tmp_path):
    absent = bench.Workload("MNIST", f"idx:{tmp_path / 'missing'}")
    assert bench.load_workload(absent) is None


def test_write_section_replaces_only_its_own(bench, tmp_path):
    from benchmarks.results import write_section

    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## A\n\nold a\n\n## B\n\nkeep b\n")
    write_section("## A", "## A\n\nnew a\n", path)
    write_section("## C", "## C\n\nnew c\n", path)
    assert path.read_text() == (
        "# Benchmark results\n\n## A\n\nnew a\n\n## B\n\nkeep b\n\n## C\n\nnew c\n"
    )


def test_help_exits_cleanly(bench, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(["--help"])
    assert stop.value.code == 0
    assert "--quick" in capsys.readouterr().out
