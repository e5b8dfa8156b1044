"""The one alternating-rounds loop: named sides take turns in rotating order (A B, B A, …), each
turn timed on the wall clock and in process CPU time. Sides measured in turns within one process
see the same machine, so their ratios hold on a shared machine where absolute times do not; CPU
time leaves out the time other jobs hold a core.
"""

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.device.benchmark import Latency, measure_latency

REPO = Path(__file__).resolve().parents[1]
FRESH_ENV = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")  # a fresh python's


@dataclass
class Samples:
    """One side's turns: wall and CPU seconds, and what each turn's call returned."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    values: list = field(default_factory=list)

    def median(self, clock: str = "wall") -> float:
        return statistics.median(getattr(self, clock))

    def median_of(self, attribute: str) -> float:
        """The median over turns of an attribute of the returned values, e.g. `p50_ms`."""
        return statistics.median(getattr(v, attribute) for v in self.values)


def alternate(
    sides: dict[str, Callable[[], object]], rounds: int, warmup: int = 1, keep: bool = True
) -> dict[str, Samples]:
    """`warmup` untimed calls a side, then `rounds` timed turns each; `keep`: keep what returns."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    samples = {name: Samples() for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            value = sides[name]()
            samples[name].wall.append(time.perf_counter() - wall)
            samples[name].cpu.append(time.process_time() - cpu)
            samples[name].values.append(value if keep else None)
            del value
    return samples


def speedup(ours: Samples, baseline: Samples, clock: str = "wall") -> float:
    """Ours ÷ baseline speed: the baseline's median time ÷ ours (above 1: ours is faster)."""
    return baseline.median(clock) / ours.median(clock)


def command_side(argv: list[str], **options) -> Callable[[], object]:
    """A side that runs `python argv...` in a fresh process, which must exit with status 0."""
    command = [sys.executable, *argv]
    return lambda: subprocess.run(command, check=True, capture_output=True, **options)


def photo_training(photos: Path, side: int, recipe: Path, *settings: str) -> list[str]:
    """tfmodel.train's arguments: one quiet epoch of `recipe` on `photos`, its run beside them."""
    common = [
        f"data.source=images:{photos}", f"data.image_size=[{side},{side}]", "data.augment=[]",
        "training.epochs=1", "edge.enabled=false", "training.verbose=0", "output.name=photos",
    ]  # fmt: skip
    sets = [f"--set={s}" for s in (*common, *settings)]
    return ["--config", str(recipe), "--output", str(photos.parent), "--no-resume", *sets]


def latencies(calls: dict[str, Callable], example, runs: int | dict, rounds: int) -> dict:
    """Each call's median Latency over `rounds` alternating turns of `runs` (or `runs[name]`)."""
    counts = runs if isinstance(runs, dict) else dict.fromkeys(calls, runs)
    sides = {
        name: lambda c=call, n=counts[name]: measure_latency(c, example, n, max(n // 10, 2))
        for name, call in calls.items()
    }
    samples = alternate(sides, rounds, warmup=0)
    medians = ("p50_ms", "p99_ms", "mean_ms")
    return {n: Latency(*map(s.median_of, medians), counts[n]) for n, s in samples.items()}
