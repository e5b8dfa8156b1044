"""Load time of encrypted ÷ plain `.tflite` files: what decrypting in memory costs at start-up.

The digits MLP and MobileNetV2 (α 0.35, 96×96×3, random weights), float32 and int8, each with its
model.json and encrypted copy (`edge.encrypt`). A load is `EdgeModel(path)` as an app makes it;
plain loads, encrypted loads and `edge.device.crypto.open_model` alone (`decrypt ms`) alternate.
"""

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import alternate, speedup
from benchmarks.results import Figure, Result, Table
from edge import convert
from edge.device.crypto import open_model
from edge.device.manifest import ModelFile, ModelIdentity, write_manifest
from edge.device.runtime import EdgeModel, read_manifest
from edge.encrypt import encrypt_folder, generate_key
from tfmodel.backend import keras
from tfmodel.config import DataConfig, ModelConfig, RegularizerConfig
from tfmodel.data import load_splits
from tfmodel.models import build_model

DIGITS, MOBILENET = "digits MLP 64-128-10", "MobileNetV2 0.35, 96×96×3"
KINDS = ("float32", "int8")
BOTH = (DIGITS, MOBILENET)
SIZES = {"smoke": ((DIGITS,), 3), "quick": (BOTH, 30), "full": (BOTH, 220)}  # → (models, loads)
GOAL = 1.1  # encrypted ÷ plain load time (CPU), a ceiling
COLUMNS = ["model", "file", "KB", "plain load ms", "encrypted load ms", "encrypted ÷ plain (wall)"]
COLUMNS += ["encrypted ÷ plain (CPU)", "decrypt ms"]


def build_model_for(name: str) -> tuple[keras.Model, np.ndarray, float]:
    """The Keras model, its calibration examples (raw pixels) and pixel_max."""
    if name == DIGITS:
        digits = load_splits(DataConfig(), seed=0)
        model = build_model(ModelConfig(), RegularizerConfig(), (8, 8, 1), 10, digits.pixel_max)
        return model, convert.calibration_examples(digits.x_train, count=100), digits.pixel_max
    shape = (96, 96, 3)
    model = keras.applications.MobileNetV2(shape, 0.35, weights=None, classifier_activation=None)
    return model, np.random.default_rng(0).uniform(0, 1, (8, *shape)).astype(np.float32), 1.0


def write_folder(folder: Path, name: str, key: Path) -> dict[str, tuple[Path, Path]]:
    """Each kind's plain file and encrypted copy, with model.json, in `folder`."""
    model, calibration, pixel_max = build_model_for(name)
    files = []
    for kind in KINDS:
        path = folder / f"model_{kind}.tflite"
        path.write_bytes(convert.convert_model(model, "pixels", kind, calibration))
        files.append(ModelFile(path, kind, None, 0.0))
    labels = [str(i) for i in range(int(model.output_shape[-1]))]
    identity = ModelIdentity(name.split()[0], "1")
    write_manifest(folder, files, labels, model.input_shape[1:], pixel_max, identity)
    encrypt_folder(folder, key, keep_plain=True)
    return {f.variant: (f.path, f.path.with_name(f.path.name + ".enc")) for f in files}


def measure_pair(plain: Path, sealed: Path, key: Path, loads: int) -> list[float]:
    """Median load ms of each file, encrypted ÷ plain by wall and by CPU time, decrypt ms."""
    content, manifest = sealed.read_bytes(), read_manifest(sealed)
    sides = {
        "plain": lambda: EdgeModel(plain, num_threads=1, decrypt_key=key),
        "sealed": lambda: EdgeModel(sealed, num_threads=1, decrypt_key=key),
        "decrypt": lambda: open_model(sealed, content, manifest, key),  # key file read too
    }
    samples = alternate(sides, loads, keep=False)  # an app loads one at a time
    ratios = [1 / speedup(samples["sealed"], samples["plain"], c) for c in ("wall", "cpu")]
    plain_ms, sealed_ms, decrypt = (samples[s].median() * 1000 for s in sides)
    return [plain.stat().st_size / 1024, plain_ms, sealed_ms, *ratios, decrypt]


def run(size: str = "full") -> Result:
    models, loads = SIZES[size]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "model-encryption.key"
        generate_key(key)
        for name in models:
            folder = Path(tmp) / name.split()[0]
            folder.mkdir()
            for kind, (plain, sealed) in write_folder(folder, name, key).items():
                rows.append([name, kind, *measure_pair(plain, sealed, key, loads)])
    measure = "encrypted ÷ plain load time, {} float32 (CPU time)"
    floats = [r for r in rows if r[1] == "float32"]
    figures = [Figure(measure.format(r[0]), r[6], "×", GOAL, False) for r in floats]
    cells = [[*r[:2], *(f"{v:.3g}" for v in r[2:])] for r in rows]
    method = f"{loads} loads of each file, plain and encrypted alternating, one thread."
    title = "Edge: load time of encrypted ÷ plain files"
    return Result("edge_encryption", title, method, [Table(COLUMNS, cells)], figures)
