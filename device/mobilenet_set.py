"""The device check's convnet: MobileNetV2 α 0.35 through the edge stage into one edge folder.

The network (tfmodel.models) is trained briefly on generated colour images by the recipe of
benchmarks/edge_mobilenet.py, then edge.optimize's `optimize` writes what a Pi gets: float32 and
int8 with float32 I/O (the file devices use), model.json, labels.txt and the test images as
samples.npz, which device/predict_set.py feeds to every file.

    python device/mobilenet_set.py /tmp/mobilenet          # 96×96, ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.edge_mobilenet import train_mobilenet
from edge.optimize import optimize
from tfmodel.brought.door import describe_trained_model

SIDE, IMAGES, EPOCHS = 96, 500, 2  # 100 test images: the samples every emulated Pi predicts
VARIANTS = ["float32", "int8"]


def build_set(out_dir: Path, side: int = SIDE, images: int = IMAGES, epochs: int = EPOCHS) -> None:
    """Train the network briefly and write its edge folder into `out_dir`."""
    model, splits, config = train_mobilenet(side, images, epochs)
    config.edge.variants = VARIANTS
    config.output.name = "colours_mobilenet_v2"
    described = describe_trained_model(model, config, splits.class_names)
    optimize(described, splits, out_dir, version="1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the edge folder to write")
    parser.add_argument("--side", type=int, default=SIDE, help="image side in pixels (96)")
    args = parser.parse_args(argv)
    build_set(args.out, args.side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
