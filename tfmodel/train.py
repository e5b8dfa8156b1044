"""Train a Keras model from a config: `python -m tfmodel.train [--config F] [--set key=value]`.

Data, model and optimizer come from the config; the tf.distribute strategy from `--strategy`.
Everything the run produces goes into its run folder (see `tfmodel.runs`); a run killed part way
and started again with the same command replays its unfinished epoch and ends exactly as if it had
never stopped (see `tfmodel.resume`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfmodel.config import Config, load_config
from tfmodel.distribute import cluster
from tfmodel.errors import UserError, report_error
from tfmodel.flags import make_parser, overrides_from_flags
from tfmodel.training.fitting import build_model_and_phases, fit
from tfmodel.training.recording import evaluate_test, save_and_record
from tfmodel.training.run_folder import locate_run, start_run
from tfmodel.training.setting import prepare

# Why some imports sit inside functions: TensorFlow takes seconds to load, and the modules above
# import none of it, so `--help` and a config error answer at once. What needs TensorFlow (data,
# strategies, models, export) is imported inside the function of `tfmodel.training` that uses it.
EXAMPLES = """examples:
  python -m tfmodel.train                                   # configs/digits_mlp.yaml
  python -m tfmodel.train --config configs/digits_cnn.yaml --epochs 5
  python -m tfmodel.train --set optimizer.name=adam --set optimizer.learning_rate=0.001
  python -m tfmodel.train --strategy tpu --tpu local        # on a Cloud TPU VM
  python -m tfmodel.train --simulate-tpu 8 --epochs 3       # the TPU recipe on 8 logical CPUs
  python -m tfmodel.train --strategy multi_worker --worker-hosts h1:12345,h2:12345 --task-index 0
"""


@dataclass
class TrainResult:
    """What a finished run hands to the next stage."""

    run_dir: Path
    model: Any
    test_accuracy: float
    test_loss: float
    n_test: int


def train(config: Config, run_dir: Path | None = None) -> TrainResult:
    """Train, evaluate on the test split and write the run folder; returns where it went.

    In order: strategy and data → where the run goes → model (compiled in the strategy's scope) →
    the run folder (only now, so a rejected config leaves none) → fit → test → save and record.
    """
    setting = prepare(config)
    folder = locate_run(config, setting, run_dir)
    model, phases = build_model_and_phases(config, setting)
    start_run(config, setting, folder)
    epochs_run, clock = fit(config, setting, folder, model, phases)
    test_loss, test_accuracy = evaluate_test(setting, model)
    test = (test_loss, test_accuracy)
    save_and_record(config, setting, folder, model, epochs_run, clock, test)
    n_test = len(setting.splits.y_test)
    return TrainResult(folder.run_dir, model, float(test_accuracy), float(test_loss), n_test)


# Flag → config key: the shared flags (tfmodel.flags) and train's own.
FLAG_KEYS = {
    "epochs": "training.epochs",
    "strategy": "training.strategy",
    "output": "output.dir",
    "resume": "training.resume",
    "batch_size": "data.batch_size",
    "data_dir": "data.data_dir",
    "tpu": "training.tpu",
    "gpus": "training.gpus",
    "cpu_devices": "training.cpu_devices",
    "simulate_tpu": "training.simulate_tpu",
}


def build_parser() -> argparse.ArgumentParser:
    """The command line: the shared flags (tfmodel.flags), then this command's own."""
    parser = make_parser(
        "python -m tfmodel.train",
        __doc__,
        EXAMPLES,
        config_help="YAML config (default: configs/digits_mlp.yaml)",
        set_example="optimizer.learning_rate=0.05",
        output_help="output.dir: where run folders go",
    )
    parser.add_argument("--batch-size", type=int, help="data.batch_size (per replica)")
    parser.add_argument(
        "--data-dir", help="data.data_dir: prepared TFDS data (else $TFDS_DATA_DIR)"
    )
    parser.add_argument("--run-dir", type=Path, help="exact run folder (same on every worker)")
    parser.add_argument("--tpu", help="training.tpu: TPU name or grpc:// address (default local)")
    parser.add_argument("--gpus", type=int, help="training.gpus: how many GPUs to use")
    parser.add_argument(
        "--cpu-devices", type=int, help="training.cpu_devices: split the CPU into N replicas"
    )
    parser.add_argument(
        "--simulate-tpu",
        type=int,
        metavar="N",
        help="training.simulate_tpu: the TPU recipe on a MirroredStrategy over N logical CPUs",
    )
    parser.add_argument("--worker-hosts", help="h1:port,h2:port: builds TF_CONFIG for multi_worker")
    parser.add_argument("--task-index", type=int, help="this worker's index in --worker-hosts")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, overrides_from_flags(args, FLAG_KEYS))
        if args.worker_hosts is not None:
            hosts = cluster.parse_worker_hosts(args.worker_hosts)
            if args.task_index is None:
                raise UserError(
                    "--worker-hosts needs --task-index: this worker's place in the list "
                    "(0 on the first node, 1 on the second, ...)"
                )
            tf_config = cluster.build_tf_config(hosts, args.task_index)
            os.environ["TF_CONFIG"] = json.dumps(tf_config)
            config.training.strategy = "multi_worker"
        train(config, run_dir=args.run_dir)
    except UserError as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
