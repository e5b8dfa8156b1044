"""`python -m serving.demo RUN_DIR`: serve a run's export locally and call it as a user would.

Starts `serving.server` on free 127.0.0.1 ports with the export's `models.config`, sends a few
test-split images through the gRPC client (as one would to TensorFlow Serving), prints the
predictions against the labels, and stops the server.
"""

from __future__ import annotations

# isort: off
import tfmodel.backend  # noqa: F401  first: the server loads TensorFlow, which must see Keras 2 chosen

# isort: on
import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.device.quiet import add_verbose_flag
from serving.client import RemoteError, ServingClient, UsageError
from serving.server.model_server import ModelServer, ServerOptions
from tfmodel.config import load_config
from tfmodel.data import load_splits, reading
from tfmodel.errors import UserError, report_error
from tfmodel.export.saved_model import MODELS_CONFIG_FILE, export_model_name, resolve_export_base
from tfmodel.runs import CONFIG_FILE

EXAMPLES = """examples:
  python -m serving.demo runs/latest               # 8 test images through gRPC
  python -m serving.demo runs/latest --count 20
"""


def run_demo(run_dir: str | Path, count: int = 8) -> float:
    """Serve the run's export, predict `count` test images over gRPC, print a table; accuracy."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"{run_dir} is not a run folder (no {CONFIG_FILE}); pass e.g. runs/latest")
    config = load_config(config_path)
    models_config = resolve_export_base(config, run_dir) / MODELS_CONFIG_FILE
    if not models_config.is_file():
        raise UserError(
            f"{run_dir} has no export ({models_config} is missing); "
            f"run `python -m tfmodel.export {run_dir}` first"
        )
    splits = load_splits(config.data, config.training.seed)
    if count < 1:
        raise UserError(f"--count {count}: send at least one image")
    images, labels = reading.first_images(splits, "test", count), splits.y_test[:count]
    server = ModelServer(ServerOptions(port=0, model_config_file=str(models_config))).start()
    try:
        address = f"127.0.0.1:{server.grpc_port}"
        with ServingClient(address, export_model_name(config)) as client:
            version = client.metadata().version
            outputs = client.predict({config.model.input_name: images})
    finally:
        server.stop()
    print(f"gRPC {address}, model {export_model_name(config)!r} version {version}")
    print_table(outputs["classes"], outputs["probabilities"], labels, splits.class_names)
    accuracy = float(np.mean(outputs["classes"] == labels))
    print(f"{int(np.sum(outputs['classes'] == labels))}/{len(labels)} correct, server stopped")
    return accuracy


def print_table(
    classes: np.ndarray, probabilities: np.ndarray, labels: np.ndarray, names: Sequence[str]
) -> None:
    print(f"{'#':>3}  {'label':<10}{'predicted':<10}{'probability':>11}")
    for index, (predicted, label) in enumerate(zip(classes, labels, strict=True)):
        mark = "" if predicted == label else "  ✗"
        probability = probabilities[index, predicted]
        print(f"{index:>3}  {names[label]:<10}{names[predicted]:<10}{probability:>11.3f}{mark}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.demo",
        description="Serve a run's export on free local ports and predict a few test images.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", help="a run folder with an export (python -m tfmodel.train)")
    parser.add_argument("--count", type=int, default=8, help="test images to send (default 8)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    try:
        run_demo(args.run_dir, args.count)
    except (UserError, UsageError, RemoteError) as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
