"""Train a Keras model from a config: `python -m tfmodel.train [--config F] [--set key=value]`.

Data, model and optimizer come from the config; the tf.distribute strategy from `--strategy`.
Everything the run produces goes into its run folder (see `tfmodel.runs`); a run killed part way
and started again with the same command replays its unfinished epoch and ends exactly as if it had
never stopped (see `tfmodel.resume`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfmodel import runs
from tfmodel.analysis.model_card import write_test_review
from tfmodel.config import Config, load_config
from tfmodel.distribute import cluster
from tfmodel.errors import UserError, report_error
from tfmodel.flags import make_parser, overrides_from_flags
from tfmodel.tables import format_rows

# Why some imports sit inside functions: TensorFlow takes seconds to load, and the modules above
# import none of it, so `--help` and a config error answer at once. What needs TensorFlow (data,
# strategies, models, export) is imported inside the function that uses it.
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
    setting = _prepare(config)
    folder = _locate_run(config, setting, run_dir)
    model, phases = _build_model(config, setting)
    _start_run(config, setting, folder)
    epochs_run, seconds = _fit(config, setting, folder, model, phases)
    test_loss, test_accuracy = _test(setting, model)
    test = (test_loss, test_accuracy)
    _save_and_record(config, setting, folder, model, epochs_run, seconds, test)
    n_test = len(setting.splits.y_test)
    return TrainResult(folder.run_dir, model, float(test_accuracy), float(test_loss), n_test)


@dataclass
class _Setting:
    """What the strategy and the data decided, before any model exists."""

    info: Any  # strategies.StrategyInfo
    policy: str
    splits: Any  # data.Splits or data.StreamedSplits
    global_batch: int
    static_shapes: bool  # TPUs compile one batch shape
    data_epoch: Any  # tf.Variable: the epoch the input pipeline draws its order for
    inputs: dict[str, Any]  # model.fit's data arguments (fit_data)
    backup_every_s: float

    @property
    def steps_per_epoch(self) -> int:
        return self.inputs["steps_per_epoch"]


@dataclass
class _RunFolder:
    """Where this process's run goes: the run folder, and where this worker writes."""

    run_dir: Path
    write_dir: Path  # run_dir on the chief, a temporary folder on other workers
    resuming: bool
    chief: bool


def _prepare(config: Config) -> _Setting:
    """The strategy, the splits and the input pipelines, printed in one line."""
    from tfmodel import data
    from tfmodel.backend import tf
    from tfmodel.distribute import strategies

    info, policy = start_strategy(config)
    backup_every_s = _backup_every_s(config, info)  # a bad value stops before the data loads
    splits = data.load_splits(config.data, config.training.seed)
    global_batch = strategies.global_batch_size(config.data.batch_size, info)
    static_shapes = info.is_tpu or config.data.drop_remainder
    data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # set by ExactBackup
    inputs = fit_data(config, splits, global_batch, static_shapes, data_epoch)
    print(
        f"data {config.data.source}: train {len(splits.y_train)}, validation {len(splits.y_val)}, "
        f"test {len(splits.y_test)}; batch {config.data.batch_size} per replica × "
        f"{info.num_replicas} = {global_batch} global; precision {policy}"
    )
    return _Setting(
        info, policy, splits, global_batch, static_shapes, data_epoch, inputs, backup_every_s
    )


def _locate_run(config: Config, setting: _Setting, run_dir: Path | None) -> _RunFolder:
    """The run folder to write (or the unfinished one to resume), not created yet."""
    run_dir = run_dir or _pick_run_dir(config, setting.info)
    return _RunFolder(
        run_dir=run_dir,
        write_dir=cluster.writable_run_dir(run_dir, cluster.read_tf_config()),
        resuming=(run_dir / runs.BACKUP_DIR).is_dir(),
        chief=setting.info.is_chief,
    )


def _build_model(config: Config, setting: _Setting) -> tuple[Any, list[Any]]:
    """The configured network, built in the strategy's scope and precision, and its training
    phases (`tfmodel.models.transfer`); compiled for the first, so a bad setting stops here."""
    from tfmodel.models import build_model, transfer

    phases = transfer.plan_phases(config.model, config.optimizer, config.training.epochs)
    splits = setting.splits
    with setting.info.strategy.scope(), global_policy(setting.policy):  # layers keep it
        model = build_model(
            config.model,
            config.regularizer,
            splits.input_shape,
            splits.num_classes,
            splits.pixel_max,
            convertible=config.edge.enabled,
        )
    transfer.check_transfer(model, config.model)
    _compile_phase(config, setting, model, phases[0])
    return model, phases


def _start_run(config: Config, setting: _Setting, folder: _RunFolder) -> None:
    """The chief creates the run folder (config.yaml) and records an image folder's split."""
    from tfmodel import data

    if not folder.chief:
        return
    runs.start_run(folder.run_dir, config)
    if isinstance(setting.splits, data.StreamedSplits):
        _record_folder_data(config, folder.run_dir, setting.splits, setting.inputs["x"])
    if config.export.enabled and config.export.base_dir:  # else it lives in the run folder
        runs.writable_dir(Path(config.export.base_dir), "export.base_dir")


def _compile_phase(config: Config, setting: _Setting, model, phase) -> None:
    """Make trainable what `phase` trains and compile with its optimizer, whose schedule runs
    over the phase's epochs, in the strategy's scope (the optimizer's slots are mirrored)."""
    from tfmodel.distribute import strategies
    from tfmodel.models import compile_for_training, transfer

    info = setting.info
    with info.strategy.scope(), global_policy(setting.policy):
        transfer.set_phase(model, config.model, phase)
        compile_for_training(
            model,
            phase.optimizer,
            setting.steps_per_epoch,
            phase.end_epoch - phase.first_epoch,
            learning_rate_scale=strategies.learning_rate_scale(
                info, config.optimizer.scale_learning_rate
            ),
            steps_per_execution=strategies.steps_per_execution(config.training.steps_per_execution),
            jit_compile=config.training.jit_compile,
        )


def _fit(config: Config, setting: _Setting, folder: _RunFolder, model, phases) -> tuple[int, float]:
    """model.fit per phase with the run's callbacks (backups for exact resume), from the phase a
    restart left off in; returns the epochs trained in this session and their seconds."""
    from tfmodel.resume import backup_dir, has_backup

    backed_up = [has_backup(backup_dir(folder.run_dir, p.name)) for p in phases]
    first = max((i for i, done in enumerate(backed_up) if done), default=0)
    began, epochs_run, best = time.perf_counter(), 0, None
    for index in range(first, len(phases)):
        if index:  # the first phase was compiled with the model
            _compile_phase(config, setting, model, phases[index])
        trained, best = _fit_phase(config, setting, folder, model, phases[index], best)
        epochs_run += trained
    if not epochs_run:  # the backup said fit had finished; the record had not been written
        print("every epoch was trained before the restart: only testing and recording are left")
    return epochs_run, time.perf_counter() - began


def _fit_phase(
    config: Config, setting: _Setting, folder: _RunFolder, model, phase, best: float | None
) -> tuple[int, float]:
    """One phase's model.fit; returns its epochs trained and the best monitored value so far."""
    from tfmodel.resume import BackupPlan, BestCheckpoint, make_callbacks

    backup = BackupPlan(
        setting.data_epoch,
        setting.steps_per_epoch,
        write=folder.chief,
        every_s=setting.backup_every_s,
        first_epoch=phase.first_epoch,
    )
    callbacks = make_callbacks(
        config,
        folder.run_dir,
        folder.write_dir,
        backup,
        has_val=setting.inputs["validation_data"] is not None,
        resuming=folder.resuming,
        phase=phase.name,
        best=best,
    )
    if phase.name:
        print(f"phase {phase.name}: epochs {phase.first_epoch + 1} to {phase.end_epoch}")
    history = model.fit(
        **setting.inputs,
        initial_epoch=phase.first_epoch,
        epochs=phase.end_epoch,
        callbacks=callbacks,
        verbose=config.training.verbose,
    )
    checkpoint = next(c for c in callbacks if isinstance(c, BestCheckpoint))
    return len(history.epoch), checkpoint.best


def _test(setting: _Setting, model) -> tuple[float, float]:
    """Loss and accuracy on the whole test split (padded, never cut, for static shapes)."""
    test_ds = eval_data(setting.splits, "test", setting.global_batch, setting.static_shapes)
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (n={len(setting.splits.y_test)})")
    return test_loss, test_accuracy


def _save_and_record(
    config: Config,
    setting: _Setting,
    folder: _RunFolder,
    model,
    epochs_run: int,
    seconds: float,
    test: tuple[float, float],
) -> None:
    """Every worker saves (reading the metrics' SyncOnRead variables is a collective op); the
    chief records the run, the others remove their temporary folder."""
    folder.write_dir.mkdir(parents=True, exist_ok=True)
    model.save(folder.write_dir / runs.MODEL_FILE)
    if not folder.chief:
        cluster.remove_worker_temp_dir(folder.run_dir, cluster.read_tf_config())
        return
    _record_run(config, setting, folder.run_dir, model, epochs_run, seconds, test)


def start_strategy(config: Config):
    """Seed, split the CPU if asked, pick the strategy and resolve the precision: (info, policy).

    Training and tuning start alike, so a tuning trial runs where its training run would. The
    policy is returned, not set globally: train sets it only while it builds the model.
    """
    from tfmodel.backend import keras
    from tfmodel.distribute import strategies

    keras.utils.set_random_seed(config.training.seed)
    cpu_devices = config.training.simulate_tpu or config.training.cpu_devices
    if cpu_devices:
        strategies.split_cpu(cpu_devices)
    info = strategies.make_strategy(
        config.training.strategy,
        tpu=config.training.tpu,
        gpus=config.training.gpus,
        simulate_tpu=config.training.simulate_tpu,
    )
    print(strategies.describe(info))
    return info, strategies.precision_policy(config.training.precision, info)


def _record_run(
    config: Config,
    setting: _Setting,
    run_dir: Path,
    model,
    epochs_run: int,
    seconds: float,
    test: tuple[float, float],
) -> None:
    """The chief's bookkeeping: metrics.json, curves, the `latest` link, export, the test
    confusion matrix and model card, summary table."""
    from tfmodel.models import load_model

    info, splits, test_loss, test_accuracy = setting.info, setting.splits, *test
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "n_train": len(splits.y_train),
        "n_val": len(splits.y_val),
        "n_test": len(splits.y_test),
        "epochs": config.training.epochs,
        "epochs_this_session": epochs_run,
        "train_seconds_this_session": round(seconds, 2),
        "strategy": info.kind,
        "replicas": info.num_replicas,
        "global_batch_size": setting.global_batch,
        "precision": setting.policy,
        "parameters": int(model.count_params()),
        # From history.csv, which holds every session's epochs (a restart may run none).
        **{
            f"final_{k}": float(v)
            for k, v in runs.last_epoch_row(run_dir).items()
            if k not in ("epoch", runs.PHASE_COLUMN)
        },
    }
    runs.finish_run(run_dir, metrics)
    describe_replicas = f"{info.num_replicas} replica(s) × batch {config.data.batch_size}"
    summary = {
        "run folder": str(run_dir),
        "test accuracy": f"{test_accuracy:.4f} (n={len(splits.y_test)}, loss {test_loss:.4f})",
        "training": f"{epochs_run} epochs in {seconds:.1f} s, {describe_replicas}",
    }
    # The saved copy holds plain variables: predicting and exporting need no other worker.
    saved = load_model(run_dir / runs.MODEL_FILE)
    if config.export.enabled:
        summary["serving export"] = str(_export(saved, config, run_dir, splits))
    summary["model card"] = str(write_test_review(run_dir, saved, splits))
    print(format_rows(summary))


def fit_data(
    config: Config, splits, global_batch: int, static_shapes: bool, data_epoch
) -> dict[str, Any]:
    """`model.fit`'s data arguments: x, steps_per_epoch and validation_data (None when empty).

    Training batches go on epoch after epoch, each epoch's order drawn from (seed, epoch) starting
    at `data_epoch` (a variable ExactBackup sets), so Keras keeps one iterator for the whole fit.
    With static shapes, training drops its short last batch (the next epoch reshuffles, so no
    example is left out for good) and validation pads it, so every example counts once. Training
    and tuning both fit with these, so a trial and its retraining see the same batches.
    """
    from tfmodel import data

    if isinstance(splits, data.StreamedSplits):
        train_ds = data.build_file_dataset(
            splits.train,
            splits.recipe,
            global_batch,
            seed=config.training.seed,
            epoch=data_epoch,
            repeat=True,
            drop_remainder=static_shapes,
            augment=config.data.augment,
            cache=config.data.cache,
        )
    else:
        train_ds = data.build_dataset(
            splits.x_train,
            splits.y_train,
            global_batch,
            shuffle=True,
            seed=config.training.seed,
            drop_remainder=static_shapes,
            shuffle_buffer=config.data.shuffle_buffer,
            epoch=data_epoch,
            repeat=True,
        )
    steps = data.batches_per_epoch(len(splits.y_train), global_batch, static_shapes)
    val_ds = eval_data(splits, "val", global_batch, static_shapes) if len(splits.y_val) else None
    return {"x": train_ds, "steps_per_epoch": steps, "validation_data": val_ds}


def eval_data(splits, split: str, global_batch: int, static_shapes: bool):
    """Batches of (x, y, weight) counting each example of split `val` or `test` once."""
    from tfmodel import data

    if isinstance(splits, data.StreamedSplits):
        return data.build_file_eval_dataset(
            getattr(splits, split), splits.recipe, global_batch, static_shapes=static_shapes
        )
    x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
    return data.build_eval_dataset(x, y, global_batch, static_shapes=static_shapes)


def _record_folder_data(config: Config, run_dir: Path, splits, train_ds) -> None:
    """An image folder's split (split.csv, split.json) and, with augmentation, augment.png."""
    from tfmodel.data.records import plot_augmented, write_split_record

    if splits.listing is not None:  # a folder's; a TFDS split is named by TFDS itself
        write_split_record(splits, run_dir / runs.SPLIT_FILES, run_dir / runs.SPLIT_SUMMARY)
    if config.data.augment:
        images = next(iter(train_ds.unbatch().batch(16)))[0].numpy()
        plot_augmented(images, run_dir / runs.AUGMENT_PLOT)


def _backup_every_s(config: Config, info) -> float:
    """Seconds between backups: the config's, but every epoch on a cluster, whose workers must
    save together (a checkpoint is a collective step) and so cannot each follow their own clock."""
    if config.training.backup_every_s < 0:
        raise UserError(
            f"training.backup_every_s is {config.training.backup_every_s}: use 0 (every epoch) "
            "or more seconds"
        )
    return config.training.backup_every_s if info.num_workers == 1 else 0.0


@contextlib.contextmanager
def global_policy(policy: str):
    """Keras' global mixed-precision policy set to `policy` inside, and put back after."""
    from tfmodel.backend import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _pick_run_dir(config: Config, info) -> Path:
    """The newest unfinished run of the same config (unless resume is off), else a new folder.

    Workers of one cluster must agree on the folder without talking, so theirs has no timestamp.
    """
    if info.num_workers > 1:
        return Path(config.output.dir) / config.output.name
    if config.training.resume:
        unfinished = runs.find_unfinished_run(config)
        if unfinished is not None:
            print(f"resuming unfinished run {unfinished} (pass --no-resume to start over)")
            return unfinished
    return runs.new_run_dir(config)


def _export(model, config: Config, run_dir: Path, splits) -> Path:
    from tfmodel.export.saved_model import export_for_serving

    examples = splits.x_test[: config.export.warmup_records]
    return export_for_serving(
        model, config, examples, run_dir=run_dir, class_names=splits.class_names
    )


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
