"""The publish gate: `python -m serving.publish RUN BASE` writes the run's model as the next
version of a live model base (a folder TF Serving polls) only once it has earned it.

1. Infra validation (`serving.publish.infra_validation`): the candidate, exported to a staging
   folder beside BASE, loads in a model server and answers its own warmup records.
2. Blessing, as TFX's Evaluator: its accuracy on the run's test split is not worse than that of
   the newest version already in BASE by more than `--max-accuracy-drop` (both exports are
   scored the same way, through their `serving_default` signature). An empty BASE blesses.

The verdict, both accuracies and the reason are printed and written to `<RUN>/blessing.json`.
A blessed candidate is renamed into BASE (one atomic rename, so a polling server never sees
half a model); a blocked one is deleted and the command exits 1. `--force` publishes anyway and
says so in the verdict. BASE's versions are the folders the server would serve
(`serving.server.core.versions.find_versions`, TF Serving's rule).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serving.publish.infra_validation import LOCAL_SERVER, InfraResult, validate_in_server
from serving.server.core.versions import find_versions
from tfmodel.backend import tf
from tfmodel.config import apply_overrides
from tfmodel.data import load_splits
from tfmodel.errors import UserError
from tfmodel.export.saved_model import PREDICT_SIGNATURE, export_for_serving, export_model_name
from tfmodel.runs import BLESSING_FILE, load_run
from tfmodel.tables import format_rows

DEFAULT_MAX_ACCURACY_DROP = 0.0
EXIT_BLOCKED = 1


@dataclasses.dataclass
class Verdict:
    """What the gate decided and why; written as `blessing.json`."""

    model: str
    base: str
    candidate_version: int
    infra_validation: dict
    candidate_accuracy: float
    baseline_version: int | None
    baseline_accuracy: float | None
    max_accuracy_drop: float
    blessed: bool
    forced: bool
    published: str | None
    reason: str


def publish(
    run_dir: str | Path,
    base: str | Path,
    *,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    force: bool = False,
    infra_server: str = LOCAL_SERVER,
    sign_key: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Verdict:
    """Runs the gate on a finished run and publishes the candidate if it passes (or `force`).

    `overrides` are `--set KEY=VALUE` on the run's config, as for a plain export; with
    `sign_key` the candidate is signed while staged, so it enters BASE signed.
    """
    if max_accuracy_drop < 0:
        raise UserError(f"--max-accuracy-drop {max_accuracy_drop} must be 0 or more")
    config, model = load_run(run_dir)
    apply_overrides(config, overrides)
    splits = load_splits(config.data, config.training.seed)
    base = Path(base).resolve()
    if base.exists() and not base.is_dir():
        raise UserError(f"BASE {base} is a file; give the model's folder of version folders")
    name = export_model_name(config)
    found = base_versions(base)
    version = max([0, *found]) + 1
    base.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".publish-{base.name}-", dir=base.parent))
    try:
        candidate = export_for_serving(
            model,
            config,
            splits.x_test[: config.export.warmup_records],
            export_base=staging,
            version=version,
            class_names=splits.class_names,
            sign_key=sign_key,
        )
        infra = validate_in_server(candidate.parent, name, version, infra_server)
        input_name = config.model.input_name
        accuracy = score_export(candidate, input_name, splits.x_test, splits.y_test)
        baseline_version = max(found, default=None)
        baseline, baseline_error = None, None
        if baseline_version is not None:
            try:
                baseline = score_export(
                    Path(found[baseline_version]), input_name, splits.x_test, splits.y_test
                )
            except UserError as error:
                baseline_error = str(error)
        blessed, reason = judge(infra, accuracy, baseline, baseline_version, max_accuracy_drop)
        if baseline_error:
            blessed, reason = False, baseline_error
        published = None
        if blessed or force:
            published = str(move_into(candidate, base / str(version)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verdict = Verdict(
        model=name,
        base=str(base),
        candidate_version=version,
        infra_validation=dataclasses.asdict(infra),
        candidate_accuracy=accuracy,
        baseline_version=baseline_version,
        baseline_accuracy=baseline,
        max_accuracy_drop=max_accuracy_drop,
        blessed=blessed,
        forced=force and not blessed,
        published=published,
        reason=reason + ("; published anyway (--force)" if force and not blessed else ""),
    )
    (Path(run_dir) / BLESSING_FILE).write_text(json.dumps(dataclasses.asdict(verdict), indent=2))
    return verdict


def score_export(version_dir: Path, input_name: str, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of an exported version, through its `serving_default` signature."""
    try:
        predict = tf.saved_model.load(str(version_dir)).signatures[PREDICT_SIGNATURE]
        predicted = []
        for start in range(0, len(x), 1024):
            batch = tf.constant(np.asarray(x[start : start + 1024], np.float32))
            outputs = predict(**{input_name: batch})
            if "classes" in outputs:
                predicted.append(outputs["classes"].numpy())
            else:
                predicted.append(np.argmax(next(iter(outputs.values())).numpy(), axis=-1))
    except (KeyError, TypeError, ValueError, tf.errors.OpError) as error:
        raise UserError(
            f"{version_dir} cannot be scored on this run's test data ({error}); it takes other "
            "inputs. Publish into the base of the same model, or pass --force to publish anyway."
        ) from error
    return float(np.mean(np.concatenate(predicted) == np.asarray(y)))


def base_versions(base: Path) -> dict[int, str]:
    """BASE's version folders by the server's rule; none while BASE does not exist yet."""
    return find_versions(base.name, str(base)) if base.is_dir() else {}


def judge(
    infra: InfraResult,
    accuracy: float,
    baseline: float | None,
    baseline_version: int | None,
    max_drop: float,
) -> tuple[bool, str]:
    """Blessed or not, and why: infra validation first, then accuracy against the baseline."""
    if not infra.passed:
        return False, f"infra validation failed: {infra.error}"
    if baseline is None:
        return True, "no version in the base yet: nothing to compare with"
    if accuracy < baseline - max_drop:
        return False, (
            f"test accuracy {accuracy:.4f} is {baseline - accuracy:.4f} below version "
            f"{baseline_version}'s {baseline:.4f}; --max-accuracy-drop allows {max_drop:g}"
        )
    against = f"version {baseline_version}'s {baseline:.4f}"
    if accuracy > baseline:
        return True, f"test accuracy {accuracy:.4f} is better than {against}"
    if accuracy == baseline:
        return True, f"test accuracy {accuracy:.4f} is no worse than {against}"
    return True, (
        f"test accuracy {accuracy:.4f} is {baseline - accuracy:.4f} below {against}: within "
        f"the allowed drop of {max_drop:g}"
    )


def move_into(candidate: Path, target: Path) -> Path:
    """Renames the staged version into the base: a polling server sees all of it or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise UserError(f"{target} appeared while the gate ran; run the gate again")
    candidate.rename(target)
    return target


def print_verdict(verdict: Verdict) -> None:
    """The verdict as a short table on the terminal."""
    infra = verdict.infra_validation
    baseline = (
        f"{verdict.baseline_accuracy:.4f} (version {verdict.baseline_version})"
        if verdict.baseline_version is not None
        else "none (empty base)"
    )
    status = "BLESSED" if verdict.blessed else ("FORCED" if verdict.forced else "BLOCKED")
    infra_status = "passed" if infra["passed"] else "failed"
    rows = [
        ("verdict", status),
        ("model", f"{verdict.model} version {verdict.candidate_version} → {verdict.base}"),
        ("infra check", f"{infra_status}, {infra['records']} warmup record(s) answered"),
        ("candidate", f"{verdict.candidate_accuracy:.4f} test accuracy"),
        ("baseline", baseline),
        ("reason", verdict.reason),
        ("published", verdict.published or "no"),
    ]
    print(format_rows(rows))
