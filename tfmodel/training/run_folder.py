"""Where a run goes: the folder to write, or the unfinished one to resume (`tfmodel.resume`).

It is located first and created only after the model is built, so a rejected config leaves no
folder behind. The folder's contents are described in `tfmodel.runs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tfmodel import runs
from tfmodel.config import Config
from tfmodel.distribute import cluster
from tfmodel.training.setting import Setting


@dataclass
class RunFolder:
    """Where this process's run goes: the run folder, and where this worker writes."""

    run_dir: Path
    write_dir: Path  # run_dir on the chief, a temporary folder on other workers
    resuming: bool
    chief: bool


def locate_run(config: Config, setting: Setting, run_dir: Path | None) -> RunFolder:
    """The run folder to write (or the unfinished one to resume), not created yet."""
    run_dir = run_dir or _pick_run_dir(config, setting.info)
    return RunFolder(
        run_dir=run_dir,
        write_dir=cluster.writable_run_dir(run_dir, cluster.read_tf_config()),
        resuming=(run_dir / runs.BACKUP_DIR).is_dir(),
        chief=setting.info.is_chief,
    )


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


def start_run(config: Config, setting: Setting, folder: RunFolder) -> None:
    """The chief creates the run folder (config.yaml) and records an image folder's split."""
    from tfmodel import data

    if not folder.chief:
        return
    runs.start_run(folder.run_dir, config)
    if isinstance(setting.splits, data.StreamedSplits):
        _record_folder_data(config, folder.run_dir, setting.splits, setting.batches.train)
    if config.export.enabled and config.export.base_dir:  # else it lives in the run folder
        runs.writable_dir(Path(config.export.base_dir), "export.base_dir")


def _record_folder_data(config: Config, run_dir: Path, splits, train_ds) -> None:
    """An image folder's split (split.csv, split.json, and a line naming files left out as not
    images) and, with augmentation, augment.png."""
    from tfmodel.data.records import describe_not_images, plot_augmented, write_split_record

    if splits.listing is not None:  # a folder's; a TFDS split is named by TFDS itself
        write_split_record(splits, run_dir / runs.SPLIT_FILES, run_dir / runs.SPLIT_SUMMARY)
        notice = describe_not_images(splits.listing)
        if notice:
            print(f"{notice} (all listed in {runs.SPLIT_SUMMARY})")
    if config.data.augment:
        images = next(iter(train_ds.unbatch().batch(16)))[0].numpy()
        plot_augmented(images, run_dir / runs.AUGMENT_PLOT)
