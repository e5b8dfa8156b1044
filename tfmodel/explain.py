"""Explain a trained run: `python -m tfmodel.explain RUN_DIR [--samples 16] [--steps 64]`.

Writes into `RUN_DIR/explain/`: `integrated_gradients.png` (per test image: the input, the
attributions of the predicted class over it, predicted and true label) and `confusion.png` (the
test split's confusion matrix), and prints the completeness check and the most-confused pairs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from tfmodel import runs
from tfmodel.analysis.confusion import format_pairs, plot_confusion, predict_confusion
from tfmodel.errors import UserError, report_error
from tfmodel.quiet import add_verbose_flag

EXAMPLES = """examples:
  python -m tfmodel.explain runs/latest                      # 16 test images, 64 steps
  python -m tfmodel.explain runs/latest --samples 32 --steps 128 --output /tmp/explain
"""
ATTRIBUTIONS_PLOT = "integrated_gradients.png"
COMPLETENESS_TOLERANCE = 0.05


def explain_run(run_dir: Path, samples: int, steps: int, out_dir: Path | None = None) -> Path:
    """Attribute the first `samples` test images and redraw the test confusion; returns out_dir."""
    from tfmodel.analysis.integrated_gradients import integrated_gradients
    from tfmodel.data import load_splits, reading

    if samples < 1 or steps < 1:
        raise UserError(f"--samples ({samples}) and --steps ({steps}) must be at least 1")
    config, model = runs.load_run(run_dir)
    splits = load_splits(config.data, config.training.seed)
    out_dir = out_dir or run_dir / runs.EXPLAIN_DIR
    out_dir.mkdir(parents=True, exist_ok=True)

    x, y = reading.first_images(splits, "test", samples), splits.y_test[:samples]
    result = integrated_gradients(model, x, steps=steps)
    plot_attributions(
        x,
        result.values,
        result.targets,
        y,
        splits.class_names,
        splits.pixel_max,
        out_dir / ATTRIBUTIONS_PLOT,
    )
    confusion = predict_confusion(model, splits, "test")
    plot_confusion(confusion, out_dir / runs.CONFUSION_PLOT, "test split")

    worst = float(result.completeness_error.max())
    verdict = "ok" if worst <= COMPLETENESS_TOLERANCE else "raise --steps"
    print(f"integrated gradients: {len(x)} test images, {steps} steps, black baseline")
    print(f"completeness: |Σ attributions − logit gain| ≤ {100 * worst:.2f} % ({verdict})")
    print(f"most confused on the test split (n={len(splits.y_test)}, true → predicted, count):")
    print(format_pairs(confusion.most_confused(5)))
    print(f"wrote {out_dir / ATTRIBUTIONS_PLOT} and {out_dir / runs.CONFUSION_PLOT}")
    return out_dir


def plot_attributions(
    images: np.ndarray,
    values: np.ndarray,
    predicted: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    pixel_max: float,
    png: Path,
) -> None:
    """A grid of pairs: the image, then its attributions (red for, blue against) over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_row = min(4, len(images))
    rows = math.ceil(len(images) / per_row)
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(2.6 * per_row, 1.45 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, value) in enumerate(zip(images, values, strict=True)):
        shown = _displayable(image / pixel_max)
        heat = value.sum(axis=-1)  # over colour channels
        limit = np.abs(heat).max() or 1.0
        left, right = (
            axes[i // per_row, 2 * (i % per_row)],
            axes[i // per_row, 2 * (i % per_row) + 1],
        )
        left.imshow(shown, cmap="gray_r" if shown.ndim == 2 else None, vmin=0, vmax=1)
        right.imshow(shown, cmap="gray_r" if shown.ndim == 2 else None, vmin=0, vmax=1, alpha=0.35)
        right.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.75)
        ok = predicted[i] == labels[i]
        left.set_title(f"true {class_names[labels[i]]}", fontsize=8)
        right.set_title(
            f"pred {class_names[predicted[i]]}", fontsize=8, color="black" if ok else "red"
        )
    fig.suptitle(
        "Integrated gradients of the predicted class (red: for, blue: against)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def _displayable(image: np.ndarray) -> np.ndarray:
    """(H, W) for one channel, (H, W, 3) clipped to [0, 1] for colour."""
    return image[..., 0] if image.shape[-1] == 1 else np.clip(image, 0, 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tfmodel.explain",
        description=__doc__.splitlines()[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a finished run folder, e.g. runs/latest")
    parser.add_argument("--samples", type=int, default=16, help="test images to attribute")
    parser.add_argument(
        "--steps",
        type=int,
        default=64,
        help="trapezoid steps along the path from the black baseline (≥ 50 for 5 %% completeness)",
    )
    parser.add_argument("--output", type=Path, help="output folder (default RUN_DIR/explain)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        explain_run(args.run_dir, args.samples, args.steps, args.output)
    except UserError as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
