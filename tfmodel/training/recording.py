"""After fit: the test split evaluated, the model saved by every worker, and on the chief the run
recorded (metrics.json, the `latest` link, the serving export, the model card) and summed up in
one table.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tfmodel import runs
from tfmodel.analysis.model_card import write_test_review
from tfmodel.config import Config
from tfmodel.distribute import cluster
from tfmodel.tables import format_rows
from tfmodel.training.fitting import FitClock
from tfmodel.training.run_folder import RunFolder
from tfmodel.training.setting import Setting, eval_data


def evaluate_test(setting: Setting, model) -> tuple[float, float]:
    """Loss and accuracy on the whole test split (padded, never cut, for static shapes)."""
    test_ds = eval_data(setting.splits, "test", setting.global_batch, setting.static_shapes)
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (n={len(setting.splits.y_test)})")
    return test_loss, test_accuracy


def save_and_record(
    config: Config,
    setting: Setting,
    folder: RunFolder,
    model,
    epochs_run: int,
    clock: FitClock,
    test: tuple[float, float],
) -> None:
    """Every worker saves (reading the metrics' SyncOnRead variables is a collective op); the
    chief records the run, the others remove their temporary folder."""
    folder.write_dir.mkdir(parents=True, exist_ok=True)
    model.save(folder.write_dir / runs.MODEL_FILE)
    if not folder.chief:
        cluster.remove_worker_temp_dir(folder.run_dir, cluster.read_tf_config())
        return
    _record_run(config, setting, folder.run_dir, model, epochs_run, clock, test)


def _record_run(
    config: Config,
    setting: Setting,
    run_dir: Path,
    model,
    epochs_run: int,
    clock: FitClock,
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
        "train_seconds_this_session": round(clock.seconds, 2),
        **stage_seconds(setting, clock),
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
        "training": f"{epochs_run} epochs in {clock.seconds:.1f} s, {describe_replicas}",
    }
    # The saved copy holds plain variables: predicting and exporting need no other worker.
    saved = load_model(run_dir / runs.MODEL_FILE)
    if config.export.enabled:
        began = time.perf_counter()
        summary["serving export"] = str(_export(saved, config, run_dir, splits))
        metrics["export_seconds"] = round(time.perf_counter() - began, 2)
        runs.write_metrics(run_dir, metrics)
    summary["model card"] = str(write_test_review(run_dir, saved, splits))
    print(format_rows(summary))


def stage_seconds(setting: Setting, clock: FitClock) -> dict[str, float | None]:
    """Wall seconds of the stages before the test: loading the splits, this session's first epoch
    (tracing included) and the mean of its later ones (None where it trained none); the export's
    are added once it is written."""
    first, later = clock.epochs[:1], clock.epochs[1:]
    return {
        "listing_seconds": round(setting.listing_seconds, 2),
        "first_epoch_seconds": round(first[0], 2) if first else None,
        "later_epochs_mean_seconds": round(statistics.mean(later), 2) if later else None,
        "export_seconds": None,
    }


def _export(model, config: Config, run_dir: Path, splits) -> Path:
    """The SavedModel for serving, with warm-up records from the test split."""
    from tfmodel.data import reading
    from tfmodel.export.saved_model import export_for_serving

    examples = reading.first_images(splits, "test", config.export.warmup_records)
    return export_for_serving(
        model, config, examples, run_dir=run_dir, class_names=splits.class_names
    )
