"""Tune hyperparameters: `python -m tfmodel.tune [--config F] [--trials N] [--algorithm A]`.

Searches the config's `tune.space` with KerasTuner on the validation split, then writes to
`<tune.dir>/<output.name>/` the trials (table, trials.csv, trials.png) and best_config.yaml, and
reports the best model's test accuracy — the only time the test split is read. Run the same
command again to resume; several machines share one search with --oracle and --tuner-id.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from tfmodel.config import Config, load_config
from tfmodel.errors import UserError, report_error
from tfmodel.flags import make_parser, overrides_from_flags
from tfmodel.tables import format_rows
from tfmodel.tune import report
from tfmodel.tune.space import Dimension, parse_space, trial_config

EXAMPLES = """examples:
  python -m tfmodel.tune --config configs/digits_mlp.yaml --trials 20
  python -m tfmodel.tune --algorithm bayesian --trials 30 --epochs 10
  python -m tfmodel.tune --algorithm hyperband --epochs 27      # brackets of 1, 3, 9, 27 epochs
  python -m tfmodel.tune --no-resume                            # forget the earlier search
several machines (one --output they all see): the chief runs the oracle, workers run trials
  python -m tfmodel.tune --oracle 10.0.0.1:8000 --tuner-id chief
  python -m tfmodel.tune --oracle 10.0.0.1:8000 --tuner-id worker0
then train the winner:
  python -m tfmodel.train --config tuning/digits_mlp/best_config.yaml
"""


@dataclass
class TuneResult:
    """What the chief (or a lone tuner) found."""

    project_dir: Path
    rows: list[dict]
    best_trial: str
    best_val_accuracy: float
    best_config: Path
    test_accuracy: float


def tune(config: Config, resume: bool = True) -> TuneResult | None:
    """Search, then (unless this process is a worker) report; a worker returns None."""
    from tfmodel.data import load_splits  # TensorFlow loads here, so --help answers at once
    from tfmodel.training.setting import start_strategy

    dimensions = parse_space(config)
    if config.model.freeze_epochs or "model.freeze_epochs" in config.tune.space:
        raise UserError(
            "tuning trains each trial in one phase, so it cannot take model.freeze_epochs: tune "
            "with it at 0, then train the best config with transfer learning"
        )
    info, policy = start_strategy(config)
    splits = load_splits(config.data, config.training.seed)
    if not len(splits.y_val):
        raise UserError(
            "tuning scores trials on the validation split, which is empty: "
            "set data.validation_split above 0 (the test split is kept for the end)"
        )
    model_keras = search_keras(config, info.kind, policy, splits)
    model_keras.keras.mixed_precision.set_global_policy(policy)  # every trial builds in it
    from tfmodel.tune.search import make_tuner, search_splits  # after KerasTuner chose its Keras

    project_dir = Path(config.tune.dir) / config.output.name
    tuner = make_tuner(
        config, dimensions, search_splits(splits), info, project_dir, not resume, model_keras
    )
    tuner.search(verbose=config.training.verbose)
    if _is_worker():
        print(f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left, the chief reports")
        return None
    return report_search(tuner, config, dimensions, splits, project_dir)


def search_keras(config: Config, strategy_kind: str, policy: str, splits):
    """The Keras of the config's model, which KerasTuner is then imported for: it binds itself to
    one Keras per process (`tfmodel.backend.import_keras_tuner`), so the search's Keras is decided
    here, once, before any trial. A Keras 3 model is refused what it cannot train with."""
    from tfmodel.backend import import_keras_tuner
    from tfmodel.models.build import keras_of_config
    from tfmodel.models.checks import named_by

    model_keras = keras_of_config(config.model, splits.input_shape, splits.num_classes)
    if model_keras.is_keras3:
        from tfmodel.training.keras3_fit import refuse_keras3_setting

        refuse_keras3_setting(config, strategy_kind, policy, named_by(config.model))
    import_keras_tuner(keras3=model_keras.is_keras3)
    return model_keras


def report_search(tuner, config: Config, dimensions: list[Dimension], splits, project_dir: Path):
    """Table, CSV, plot and best config; then the best model's accuracy on the test split."""
    from tfmodel.training.setting import eval_data
    from tfmodel.tune.search import finished_trials

    rows = report.trial_rows(finished_trials(tuner), dimensions)
    if not rows:
        raise UserError(f"no trial finished in {project_dir}; rerun with --debug to see why")
    print(report.format_table(rows))
    report.write_trials_csv(rows, project_dir / report.TRIALS_CSV)
    report.plot_trials(rows, project_dir / report.TRIALS_PLOT, config.tune.algorithm)
    best = tuner.oracle.get_best_trials(1)[0]
    best_path = project_dir / report.BEST_CONFIG
    best_config = trial_config(config, dimensions, best.hyperparameters.values)
    report.write_best_config(best_config, best_path, best.trial_id, best.score)

    model = tuner.load_model(best)  # the weights of its best validation epoch
    test_ds = eval_data(splits, "test", 256, static_shapes=False)
    _, test_accuracy = model.evaluate(test_ds, verbose=0)
    summary = {
        "trials": f"{len(rows)} finished ({config.tune.algorithm}), {project_dir}",
        "best trial": f"{best.trial_id}: validation accuracy {best.score:.4f}",
        "test accuracy": f"{test_accuracy:.4f} (n={len(splits.y_test)}, best trial's model)",
        "best config": str(best_path),
        "plot": str(project_dir / report.TRIALS_PLOT),
    }
    print(format_rows(summary))
    return TuneResult(
        project_dir, rows, best.trial_id, float(best.score), best_path, float(test_accuracy)
    )


def _is_worker() -> bool:
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in tuner_id


def set_oracle_address(oracle: str, tuner_id: str) -> None:
    """KerasTuner's distributed mode is set by environment variables; the flags set them."""
    host, _, port = oracle.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--oracle {oracle!r} must be HOST:PORT, e.g. 10.0.0.1:8000")
    if not tuner_id:
        raise UserError("--oracle needs --tuner-id: 'chief' on one machine, worker0, ... on others")
    os.environ.update(
        KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port, KERASTUNER_TUNER_ID=tuner_id
    )


# Flag → config key: the shared flags (tfmodel.flags; --resume is the search's, not a key) and
# tune's own.
FLAG_KEYS = {
    "epochs": "training.epochs",
    "strategy": "training.strategy",
    "output": "tune.dir",
    "trials": "tune.max_trials",
    "algorithm": "tune.algorithm",
}


def build_parser() -> argparse.ArgumentParser:
    """The command line: the shared flags (tfmodel.flags), then this command's own."""
    parser = make_parser(
        "python -m tfmodel.tune",
        __doc__,
        EXAMPLES,
        config_help="YAML config with a tune: section (default digits_mlp)",
        set_example="tune.dir=/shared/tuning",
        output_help="tune.dir: where the search keeps its state",
    )
    parser.add_argument("--trials", type=int, help="tune.max_trials: trials in all, resumed too")
    parser.add_argument("--algorithm", help="tune.algorithm: random | bayesian | hyperband")
    parser.add_argument("--oracle", metavar="HOST:PORT", help="KerasTuner chief's address")
    parser.add_argument("--tuner-id", default="", help="with --oracle: chief, or a worker's name")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = overrides_from_flags(args, FLAG_KEYS)
    try:
        config = load_config(args.config, overrides)
        if args.oracle:
            set_oracle_address(args.oracle, args.tuner_id)
        tune(config, resume=args.resume is not False)
    except UserError as err:
        return report_error(err, args.debug)
    return 0
