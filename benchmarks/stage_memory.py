"""Peak memory and wall time of each stage as the photo folder grows tenfold: `python -m
tfmodel.train` (photos_mobilenet_v2.yaml's MobileNetV2 α 0.35 at 96×96, one epoch, no
augmentation), then `python -m edge.optimize RUN` (float32, int8, pruned int8, QAT int8; one
fine-tune epoch each), in fresh processes, on `input_pipeline`'s JPEGs. Peak: VmHWM at exit
(children's peak RSS if larger). It swings run to run, so each size runs more than once,
alternating, and each stage's lowest peak and time count. Smoke: the convnet, float32, once.
"""

import tempfile
import time
from pathlib import Path

from benchmarks.edge_optimize import CNN, MOBILENET
from benchmarks.harness import FRESH_ENV, command_side, photo_training
from benchmarks.input_pipeline import write_jpegs
from benchmarks.results import Figure, Result, Table

# photos, the larger folder's photos, side, runs a size
SIZES = {"smoke": (8, 16, 16, 1), "quick": (300, 3000, 96, 2), "full": (1000, 10000, 96, 2)}
GROWTH_GOAL_MB, WALL_GOAL = 150.0, 11.0
PEAK_RSS = (  # runs module argv[1] with the rest of argv; prints its peak RSS in kB
    "import resource, runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__')\nfinally:\n"
    "    own = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    "    print('peak_rss_kb', max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
)
RECIPES = {"smoke": CNN, "": MOBILENET}
EDGE = {"smoke": ["--variants=float32"], "": ["--variants=float32,int8,pruned_int8", "--qat"]}


def measured(module: str, args: list[str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `python -m module args` in a fresh process."""
    argv = ["-c", PEAK_RSS, module, *args]
    start = time.perf_counter()
    done = command_side(argv, text=True, env=FRESH_ENV, cwd=cwd)()
    line = [row for row in done.stdout.splitlines() if row.startswith("peak_rss_kb")][-1]
    return int(line.split()[1]) / 1024, time.perf_counter() - start


def stages(photos: Path, side: int, size: str) -> dict[str, tuple[float, float]]:
    """Each stage's (peak MB, seconds) on the folder `photos`, run after the other."""
    kind = "smoke" if size == "smoke" else ""
    train = photo_training(photos, side, RECIPES[kind])
    found = {"tfmodel.train": measured("tfmodel.train", train, photos.parent)}
    edge = [str(next(photos.parent.glob("photos-*"))), "--set=edge.latency_seconds=0.2"]
    edge += ["--set=edge.prune_epochs=1", *EDGE[kind]]
    found["edge.optimize"] = measured("edge.optimize", edge, photos.parent)
    return found


def lowest(runs: list[dict[str, tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """Each stage's lowest peak and lowest time over `runs` of one size."""
    return {s: tuple(map(min, zip(*(r[s] for r in runs), strict=True))) for s in runs[0]}


def run(size: str = "full") -> Result:
    small, large, side, runs = SIZES[size]
    every = {small: [], large: []}
    for _ in range(runs):
        for count in (small, large):
            with tempfile.TemporaryDirectory() as folder:
                write_jpegs(Path(folder) / "photos", count)
                every[count].append(stages(Path(folder) / "photos", side, size))
    found = {count: lowest(results) for count, results in every.items()}
    rows, figures = [], []
    for stage, (small_mb, small_s) in found[small].items():
        large_mb, large_s = found[large][stage]
        rows.append([stage, *(f"{v:.0f}" for v in (small_mb, large_mb, small_s, large_s))])
        growth = f"{stage}: peak memory growth, {small} → {large} photos"
        figures.append(Figure(growth, max(large_mb - small_mb, 0.1), "MB", GROWTH_GOAL_MB, False))
        growth = Figure(f"{stage}: wall time growth", large_s / small_s, "×", WALL_GOAL, False)
        figures.append(growth)
    columns = ["stage", f"peak MB, {small}", f"peak MB, {large}", f"s, {small}", f"s, {large}"]
    method = f"{side}×{side}, {runs} run(s) a size."
    title = "Peak memory by stage as the folder grows"
    return Result("stage_memory", title, method, [Table(columns, rows)], figures)
