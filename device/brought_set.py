"""The device check's brought model: a Keras 3 MobileNetV3Small through `edge.optimize MODEL`.

The model a user brings (hard-swish, squeeze-excite; tests/brought_models.py makes it as the
door's tests do: `keras.applications`, weights=None, trained a few steps on generated photos,
saved as `.keras`) goes through the command a user runs, `python -m edge.optimize model.keras
--data images:DIR`, which writes float32, int8 (float I/O), and the pruned pair (pruned by
edge.prune_keras3) with model.json and samples.npz, as device/predict_set.py needs.

    python device/brought_set.py /tmp/brought          # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = "float32,int8,pruned_float32,pruned_int8"


def build_set(out_dir: Path) -> None:
    """Make the `.keras` file and run edge.optimize on it into `out_dir`."""
    sys.path.insert(0, str(REPO / "tests"))  # the brought model as the tests make it
    from brought_models import keras3_mobilenet

    from edge.optimize import main as optimize

    with tempfile.TemporaryDirectory() as folder:
        made = keras3_mobilenet(Path(folder))
        args = [str(made.keras_file), "--data", f"images:{made.photos}", "--output", str(out_dir)]
        args += ["--variants", VARIANTS, "--set", "edge.prune_epochs=1"]
        if optimize(args) != 0:
            sys.exit(f"brought_set: edge.optimize {made.keras_file} failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the edge folder to write")
    build_set(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
