"""The publish gate: `python -m serving.publish MODEL BASE` writes the model (a run's, or one the
user brings with `--data` to score it) as the next version of a live model base (a folder TF
Serving polls) only once it has earned it.

1. Infra validation (`serving.publish.infra_validation`): the candidate, exported to a staging
   folder beside BASE, loads in a model server and answers its own warmup records.
2. Blessing, as TFX's Evaluator: its accuracy on the run's test split is not worse than that of
   the newest version already in BASE by more than `--max-accuracy-drop` (both exports are
   scored the same way, through their `serving_default` signature, on the test split of the
   model's data). An empty BASE blesses.

The verdict, both accuracies and the reason are printed and written to `<RUN>/blessing.json`
(for a brought model, `MODEL.blessing.json` beside it).
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
from typing import Any

import numpy as np

from serving.publish.infra_validation import LOCAL_SERVER, InfraResult, validate_in_server
from serving.server.core.versions import find_versions
from tfmodel.backend import tf
from tfmodel.brought import BroughtModel, ModelOptions, load_model_data, resolve_model
from tfmodel.brought.card import evaluate
from tfmodel.data import reading
from tfmodel.errors import UserError
from tfmodel.export.saved_model import PREDICT_SIGNATURE, export_model
from tfmodel.runs import BLESSING_FILE
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


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the candidate goes: BASE, the versions already in it, and the candidate's number."""

    base: Path
    found: dict[int, str]
    version: int

    @property
    def baseline_version(self) -> int | None:
        return max(self.found, default=None)


@dataclasses.dataclass(frozen=True)
class Scores:
    """Test accuracy of the candidate and of BASE's newest version (None: empty base, or
    `baseline_error` says why it could not be scored on this data)."""

    accuracy: float
    baseline_version: int | None
    baseline: float | None
    baseline_error: str | None = None


def publish(
    model: str | Path,
    base: str | Path,
    *,
    options: ModelOptions | None = None,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    force: bool = False,
    infra_server: str = LOCAL_SERVER,
    sign_key: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Verdict:
    """Runs the gate on MODEL (a run folder, or a model brought with `options.data`) and
    publishes the candidate if it passes (or `force`). The steps, in order:

    load the candidate and its data → plan the version in BASE → stage the export (signed with
    `sign_key`) → validate it in a server → score it and BASE's newest version → judge → move it
    into BASE → write the verdict (`blessing.json` in a run folder, else beside MODEL).
    `overrides` are `--set KEY=VALUE` on the model's config, as for a plain export.
    """
    if max_accuracy_drop < 0:
        raise UserError(f"--max-accuracy-drop {max_accuracy_drop} must be 0 or more")
    brought, splits = load_candidate(model, options or ModelOptions(), overrides)
    target = plan_target(base)
    staging = Path(tempfile.mkdtemp(prefix=f".publish-{target.base.name}-", dir=target.base.parent))
    try:
        candidate = stage_candidate(brought, splits, target, staging, sign_key)
        infra = validate_in_server(candidate.parent, brought.name, target.version, infra_server)
        scores = score_candidate(candidate, brought.input_name, splits, target)
        blessed, reason = judge(infra, scores, max_accuracy_drop)
        published = None
        if blessed or force:
            published = str(move_into(candidate, target.base / str(target.version)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verdict = Verdict(
        model=brought.name,
        base=str(target.base),
        candidate_version=target.version,
        infra_validation=dataclasses.asdict(infra),
        candidate_accuracy=scores.accuracy,
        baseline_version=scores.baseline_version,
        baseline_accuracy=scores.baseline,
        max_accuracy_drop=max_accuracy_drop,
        blessed=blessed,
        forced=force and not blessed,
        published=published,
        reason=reason + ("; published anyway (--force)" if force and not blessed else ""),
    )
    write_verdict(verdict, brought.record_path(BLESSING_FILE))
    return verdict


def load_candidate(
    model: str | Path, options: ModelOptions, overrides: Sequence[str]
) -> tuple[BroughtModel, Any]:
    """The model through the door, and the data that scores it (a run's own, else --data)."""
    brought, splits = load_model_data(resolve_model(model, options, overrides))
    if splits is None:
        raise UserError(
            f"{model} comes with no data to score it on; pass --data SOURCE (e.g. images:DIR "
            "with a folder per class)"
        )
    return brought, splits


def plan_target(base: str | Path) -> Target:
    """BASE (made if missing) and the candidate's version: one more than its newest."""
    base = Path(base).resolve()
    if base.exists() and not base.is_dir():
        raise UserError(f"BASE {base} is a file; give the model's folder of version folders")
    found = base_versions(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    return Target(base, found, max([0, *found]) + 1)


def stage_candidate(
    brought: BroughtModel,
    splits: Any,
    target: Target,
    staging: Path,
    sign_key: str | Path | None,
) -> Path:
    """The candidate exported into `staging` as the version it would be in BASE."""
    return export_model(
        brought,
        reading.first_images(splits, "test", brought.config.export.warmup_records),
        export_base=staging,
        version=target.version,
        sign_key=sign_key,
        evaluation=evaluate(brought, splits),
    )


def score_candidate(candidate: Path, input_name: str, splits: Any, target: Target) -> Scores:
    """The candidate's test accuracy and that of BASE's newest version, both through their
    `serving_default` signature; a baseline that cannot take this data is recorded why."""
    accuracy = score_export(candidate, input_name, splits)
    if target.baseline_version is None:
        return Scores(accuracy, None, None)
    try:
        baseline = score_export(Path(target.found[target.baseline_version]), input_name, splits)
    except UserError as error:
        return Scores(accuracy, target.baseline_version, None, str(error))
    return Scores(accuracy, target.baseline_version, baseline)


def write_verdict(verdict: Verdict, path: Path) -> None:
    """The verdict as JSON (`blessing.json`), for pipelines that read it after the command."""
    path.write_text(json.dumps(dataclasses.asdict(verdict), indent=2))


def score_export(version_dir: Path, input_name: str, splits: Any) -> float:
    """Test accuracy of an exported version, through its `serving_default` signature, on the
    test split of `splits` read a batch at a time."""
    try:
        signature = tf.saved_model.load(str(version_dir)).signatures[PREDICT_SIGNATURE]

        def classes(batch: np.ndarray) -> np.ndarray:
            outputs = signature(**{input_name: tf.constant(batch)})
            if "classes" in outputs:
                return outputs["classes"].numpy()
            return np.argmax(next(iter(outputs.values())).numpy(), axis=-1)

        predicted = reading.predict_split(classes, splits, "test")
    except (KeyError, TypeError, ValueError, tf.errors.OpError) as error:
        raise UserError(
            f"{version_dir} cannot be scored on this run's test data ({error}); it takes other "
            "inputs. Publish into the base of the same model, or pass --force to publish anyway."
        ) from error
    return float(np.mean(predicted == reading.labels(splits, "test")))


def base_versions(base: Path) -> dict[int, str]:
    """BASE's version folders by the server's rule; none while BASE does not exist yet."""
    return find_versions(base.name, str(base)) if base.is_dir() else {}


def judge(infra: InfraResult, scores: Scores, max_drop: float) -> tuple[bool, str]:
    """Blessed or not, and why: infra validation first, then accuracy against the baseline
    (a baseline that could not be scored blocks: the candidate cannot be shown no worse)."""
    if not infra.passed:
        return False, f"infra validation failed: {infra.error}"
    if scores.baseline_error:
        return False, scores.baseline_error
    accuracy, baseline, baseline_version = scores.accuracy, scores.baseline, scores.baseline_version
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
