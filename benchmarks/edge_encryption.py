"""Load time of encrypted ÷ plain `.tflite` files: what decrypting in memory costs at start-up.

    python -m benchmarks.edge_encryption           # 9 min on 2 shared cores at load average 6,
                                                   # mostly converting MobileNet; prints the table
                                                   # and rewrites its section of RESULTS.md
    python -m benchmarks.edge_encryption --quick   # fewer rounds; prints only

The files: the digits MLP (64-128-10) and MobileNetV2 (alpha 0.35, 96×96×3, 1000 classes, random
weights, converted here), each as float32 and int8 from `edge.convert` (load time does not depend on
the weights' values). Each sits in a folder with its model.json (`edge.device.manifest`) and, beside
it, its encrypted copy (`edge.encrypt`). A load is what an app does once at start: `EdgeModel(path)`
reads the file, checks its sha256 against model.json, decrypts (reading the key file, checking its
id, AES-256-GCM), builds the interpreter from the bytes and allocates its tensors. Plain and
encrypted loads alternate, load by load, in rounds; `encrypted ÷ plain` is the median over rounds of
each round's ratio of median load times, wall clock and process CPU time (steadier on a shared
machine: other jobs do not add to it); `decrypt ms` times `edge.device.crypto.open_model` alone."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from edge import convert
from edge.device.crypto import open_model
from edge.device.manifest import ModelFile, ModelIdentity, write_manifest
from edge.device.runtime import EdgeModel, describe_interpreter, read_manifest
from edge.encrypt import encrypt_folder, generate_key
from tfmodel.backend import keras
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.models import build_model

SECTION = "## Edge: load time of encrypted ÷ plain files"
DIGITS, MOBILENET = "digits MLP 64-128-10", "MobileNetV2 0.35, 96×96×3"
KINDS = ("float32", "int8")
# size → (models, rounds, loads of each file per round)
SIZES = {
    "smoke": ((DIGITS,), 1, 3),
    "quick": ((DIGITS, MOBILENET), 3, 10),
    "full": ((DIGITS, MOBILENET), 11, 20),
}
GOAL = 1.1  # decrypting should cost a tenth of a load at most
WHY = (
    "decrypting is one more pass over the file (AES-256-GCM, `decrypt ms` in the table: ~4 ms for "
    "MobileNet's 6.5 MB float32 file on this shared core), as long as the sha256 pass both loads "
    "make, while a plain load is little more than that pass (the interpreter uses the weights in "
    "place in the bytes); on the 39 KB digits file, whose plain load is ~0.5 ms, a fixed ~0.1 ms "
    "(reading the key file, the header) and the spread of a loaded machine make up the ratio. "
    "`--no-verify` skips the sha256 pass for "
    "an encrypted file (its GCM tag still authenticates every byte)"
)


def build_model_for(name: str) -> tuple[keras.Model, np.ndarray, float]:
    """The Keras model, its calibration examples (raw pixels) and pixel_max."""
    rng = np.random.default_rng(0)
    if name == DIGITS:
        digits = load_splits(DataConfig(), seed=0)
        model = build_model(ModelConfig(), RegularizerConfig(), (8, 8, 1), 10, digits.pixel_max)
        return model, convert.calibration_examples(digits.x_train, count=100), digits.pixel_max
    model = keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(96, 96, 3), weights=None, classifier_activation=None
    )
    return model, rng.uniform(0, 1, size=(8, 96, 96, 3)).astype(np.float32), 1.0


def write_folder(folder: Path, name: str, key: Path) -> dict[str, tuple[Path, Path]]:
    """Each kind's plain file and encrypted copy, with model.json, in `folder`."""
    model, calibration, pixel_max = build_model_for(name)
    files = []
    for kind in KINDS:
        path = folder / f"model_{kind}.tflite"
        path.write_bytes(convert.convert_model(model, "pixels", kind, calibration))
        files.append(ModelFile(path, kind, None, 0.0))
    classes = int(model.output_shape[-1])
    identity = ModelIdentity(name.split()[0], "1")
    labels = [str(i) for i in range(classes)]
    write_manifest(folder, files, labels, model.input_shape[1:], pixel_max, identity)
    encrypt_folder(folder, key, keep_plain=True)
    return {f.variant: (f.path, f.path.with_name(f.path.name + ".enc")) for f in files}


def load_ms(path: Path, key: Path) -> tuple[float, float]:
    """Wall and CPU milliseconds of one load (CPU time: what other jobs on the core do not add)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = EdgeModel(path, num_threads=1, decrypt_key=key)
    times = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    del model  # freed after the clocks are read: freeing an interpreter is not loading one
    return times


def decrypt_ms(path: Path, key: Path, runs: int) -> float:
    """Median ms of `edge.device.crypto.open_model` alone (key file read included)."""
    content, manifest = path.read_bytes(), read_manifest(path)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        open_model(path, content, manifest, key)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def median_times(times: list[tuple[float, float]]) -> tuple[float, float]:
    """The median wall and the median CPU milliseconds of several loads."""
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def measure_pair(plain: Path, sealed: Path, key: Path, rounds: int, loads: int) -> dict:
    """Median load ms of each file and the medians of the rounds' ratios (wall and CPU)."""
    load_ms(plain, key), load_ms(sealed, key)  # warm-up: imports, the page cache
    plain_ms, sealed_ms, wall_ratios, cpu_ratios = [], [], [], []
    for _ in range(rounds):
        plain_times, sealed_times = [], []
        for _ in range(loads):
            plain_times.append(load_ms(plain, key))
            sealed_times.append(load_ms(sealed, key))
        plain_wall, plain_cpu = median_times(plain_times)
        sealed_wall, sealed_cpu = median_times(sealed_times)
        plain_ms.append(plain_wall)
        sealed_ms.append(sealed_wall)
        wall_ratios.append(sealed_wall / plain_wall)
        cpu_ratios.append(sealed_cpu / plain_cpu)
    return {
        "KB": plain.stat().st_size / 1024,
        "plain load ms": statistics.median(plain_ms),
        "encrypted load ms": statistics.median(sealed_ms),
        "encrypted ÷ plain (wall)": statistics.median(wall_ratios),
        "encrypted ÷ plain (CPU)": statistics.median(cpu_ratios),
        "decrypt ms": decrypt_ms(sealed, key, loads),
    }


def figure(row: dict) -> Figure:
    """A model's float32 load time encrypted ÷ plain (CPU time), against GOAL (a ceiling)."""
    measure = f"encrypted ÷ plain load time, {row['model']} float32 (CPU time)"
    ratio = row["encrypted ÷ plain (CPU)"]
    return Figure("edge", measure, ratio, "×", GOAL, at_least=False, why=WHY)


def run(size: str = "full") -> Section:
    """Build the files, time their loads: the section and one figure per model's float32 file."""
    check_size(size)
    models, rounds, loads = SIZES[size]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "model-encryption.key"
        generate_key(key)
        for name in models:
            folder = Path(tmp) / name.split()[0]
            folder.mkdir()
            for kind, (plain, sealed) in write_folder(folder, name, key).items():
                times = measure_pair(plain, sealed, key, rounds, loads)
                rows.append({"model": name, "file": kind, **times})
        interpreter = EdgeModel(plain, num_threads=1).interpreter_name
    columns = list(rows[0])
    cells = [[r["model"], r["file"], *(f"{r[c]:.3g}" for c in columns[2:])] for r in rows]
    table = markdown_table(columns, cells)
    figures = [figure(row) for row in rows if row["file"] == "float32"]
    text = section_text(
        SECTION,
        "`python -m benchmarks.edge_encryption` — a load is `EdgeModel(path)` as an app "
        "makes it once at start (read, sha256 against model.json, decrypt, interpreter from "
        f"the bytes, tensors allocated), one thread; {rounds} round(s) of {loads} loads of "
        "each file, plain and encrypted alternating; `encrypted ÷ plain` is the median of "
        "the rounds' ratios of median loads, wall clock and process CPU time; `decrypt ms`: "
        "`edge.device.crypto.open_model` alone (key file read, key id, AES-256-GCM). "
        f"{describe_interpreter(interpreter)}.",
        table,
    )
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("edge_encryption", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
