"""The edge stage: `python -m edge.optimize MODEL` writes an edge folder for devices.

MODEL is a run folder, a `.keras` file (Keras 3 or tf_keras) or a SavedModel folder; the door
(`tfmodel.brought.resolve_model`) describes it once and every step here takes that description.
From it: optional pruning and quantization-aware fine-tuning (where its Keras allows; the report
says why not), then one `.tflite` per variant in `edge.variants` (float32 always), model.json,
labels.txt, samples.npz and the report (report.json, report.md, size_vs_accuracy.png, analysis/
with the GPU-delegate check), which names the file to ship on the CPU it ran on. A run folder's
model card is rewritten to list the variants. With `--encrypt-key` the files are then encrypted
(`edge.encrypt`), and with `--sign-key` the folder signed after that. int8 files are made by both
the TFLite converter and litert-quantizer; the one more accurate on the validation split is kept
(the smaller on a tie) and the report says which. Each step's time is printed at the end. The
fine-tunes back up into `backup/` in the output folder as training does: the same command run
again after a kill resumes them and ends with the same files; `backup/` goes once all is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import report
from edge.card import write_edge_card
from edge.convert import analyze_gpu_compatibility
from edge.device.cli import make_parser
from edge.device.crypto import SUFFIX, read_key
from edge.device.manifest import ModelFile, ModelIdentity, write_manifest, write_samples
from edge.device.names import SIGNATURE_FILE
from edge.device.runtime import EdgeError, find_interpreter
from edge.encrypt import encrypt_folder
from edge.finetune import BACKUP_DIR
from edge.variants import (
    VARIANTS,
    Converted,
    Sources,
    build_sources,
    convert_variants,
    resolve_variants,
)
from tfmodel.brought import ModelOptions, load_model_data, resolve_model
from tfmodel.brought.description import RUN
from tfmodel.brought.door import MODEL_KINDS_HELP
from tfmodel.brought.flags import add_model_flags, model_options
from tfmodel.config import Config
from tfmodel.data import reading
from tfmodel.errors import UserError, report_error
from tfmodel.sign import sign_model

EXAMPLES = """examples:
  python -m edge.optimize runs/latest
  python -m edge.optimize model.keras --data images:photos/      # a Keras 3 or tf_keras file
  python -m edge.optimize exported/1 --data images:photos/       # a SavedModel folder
  python -m edge.optimize my_net.keras --data images:photos/ --custom-objects my_layers.py
  python -m edge.optimize runs/latest --set edge.target_sparsity=0.5 --set edge.prune_epochs=2
  python -m edge.optimize runs/latest --variants float32,int8,pruned_int8 --qat
  python -m edge.optimize runs/digits_mlp-20250101-120000 --output /tmp/edge
  python -m edge.optimize runs/latest --sign-key model-signing.key   # also writes edge/model.sig
  python -m edge.optimize runs/latest --encrypt-key model-encryption.key  # .tflite.enc files

Then on the device: python -m edge.device.predict EDGE_DIR/model_int8.tflite photo.jpg
  (with --verify-key model-signing.pub it loads only files that key signed)
  (encrypted: python -m edge.device.predict model_int8.tflite.enc photo.jpg --decrypt-key KEY)
"""
EDGE_SUFFIX = "-edge"  # a brought model's default output folder: <its name>-edge beside it
SAMPLE_COUNT = 200


@dataclass
class EdgeResult:
    """What the stage wrote and measured."""

    out_dir: Path
    rows: list[report.VariantResult]
    manifest: dict[str, Any]
    sparsity: dict[str, float]
    unpruned: list[str]  # layers with a kernel that tfmot could not prune
    seconds: dict[str, float]  # each step's wall time (StepTimes)


def optimize(model: Any, splits: Any, out_dir: Path, version: str | None = None) -> EdgeResult:
    """Write every variant of `model` (the door's description) with model.json and the report
    into `out_dir`, from `splits` (its data: calibration, fine-tuning, evaluation).

    model.json names the model as its export does and the version `version`, by default the
    name of the folder above `out_dir` (the run folder, for RUN_DIR/edge).
    """
    config = model.config
    variants = resolve_variants(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = StepTimes()
    with steps.timed("fine-tuning (pruning, QAT)"):
        sources = build_sources(model, splits, config, variants, out_dir / BACKUP_DIR)
    with steps.timed("conversion"):
        converted = convert_variants(sources, variants, splits, config, out_dir)
    version = version or out_dir.resolve().parent.name
    with steps.timed("model.json, samples"):
        manifest = write_manifest_and_samples(out_dir, converted.files, model, splits, version)
    with steps.timed("measuring"):
        rows = measure_all(model, splits, converted, sources.float.sparsity, config.edge)
    with steps.timed("report"):
        write_and_print_report(out_dir, rows, converted, sources, config)
    shutil.rmtree(out_dir / BACKUP_DIR, ignore_errors=True)  # the folder is complete
    print(steps.summary())
    return EdgeResult(
        out_dir, rows, manifest, sources.layer_sparsity, sources.unpruned, steps.seconds
    )


def model_file(source: Path | None) -> Path | None:
    """The file or folder MODEL's bytes are in (a run folder's model.keras); None in memory."""
    from tfmodel.runs import MODEL_FILE

    if source is not None and (source / MODEL_FILE).is_file():
        return source / MODEL_FILE
    return source


class StepTimes:
    """How long each step took, printed at the end (what a run of edge.optimize paid for)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[step] = time.perf_counter() - start

    def summary(self) -> str:
        return "steps: " + ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())


def write_manifest_and_samples(
    out_dir: Path, files: list[ModelFile], model: Any, splits: Any, version: str
) -> dict[str, Any]:
    """model.json and labels.txt for the files, and samples.npz; returns model.json's content.

    samples.npz holds the first test examples with the model's probabilities, so a device can
    check its interpreter's answers against the model that was brought.
    """
    identity = ModelIdentity(model.name, version)
    manifest = write_manifest(
        out_dir, files, list(model.labels), tuple(model.input_shape), splits.pixel_max, identity
    )
    x_samples = reading.first_images(splits, "test", SAMPLE_COUNT)
    y_samples = reading.labels(splits, "test")[:SAMPLE_COUNT]
    write_samples(out_dir, x_samples, y_samples, model.predict(x_samples))
    return manifest


def measure_all(
    model: Any, splits: Any, converted: Converted, float_sparsity: float, edge: Any
) -> list[report.VariantResult]:
    """The model's row, then one row per file, each with its GPU-delegate check saved to
    analysis/; each row's latency timed for up to `edge.latency_seconds`. The test split is
    read a batch at a time, once per row."""
    keras, reference = report.model_row(
        model, splits, model_file(model.source), float_sparsity, edge.latency_seconds
    )
    rows = [keras]
    analysis_dir = converted.files[0].path.parent / "analysis"
    analysis_dir.mkdir(exist_ok=True)
    for item in converted.files:
        row = report.measure_file(item, splits, reference, edge.latency_seconds)
        content = item.path.read_bytes()
        gpu = analyze_gpu_compatibility(content)
        row.gpu_compatible, row.ops = gpu.compatible, gpu.ops
        (analysis_dir / f"{item.path.stem}.txt").write_text(gpu.text)
        row.quantizer_candidates = converted.candidates.get(item.variant, {})
        rows.append(row)
    return rows


def write_and_print_report(
    out_dir: Path,
    rows: list[report.VariantResult],
    converted: Converted,
    sources: Sources,
    config: Config,
) -> None:
    """report.json, report.md and the chart into `out_dir`; the notes and the table printed."""
    verdict = report.recommendation(rows, config.edge.max_accuracy_drop)
    notes = [verdict, *describe_choices(converted, sources, config)]
    recommended = report.recommend(rows, config.edge.max_accuracy_drop)
    extra = {
        "recommended": recommended.file if recommended else None,
        "verdict": verdict,
        "target_sparsity": config.edge.target_sparsity,
        "layer_sparsity": sources.layer_sparsity,
        "unpruned_layers": sources.unpruned,
    }
    report_data = report.build_report(rows, find_interpreter()[1], extra)
    report.write_report(out_dir, report_data, rows, notes)
    for note in notes[1:]:
        print(f"- {note}")
    print(f"\nedge variants in {out_dir} (report.md, size_vs_accuracy.png):")
    print(report.format_table(rows))
    print(f"CPU: {report_data['cpu']}")
    print(verdict)


def describe_choices(converted: Converted, sources: Sources, config: Config) -> list[str]:
    """One sentence per int8 quantizer choice and for the pruning reached."""
    notes = []
    for item in converted.files:
        scores = converted.candidates.get(item.variant)
        if scores:
            text = "; ".join(
                f"{name} {s['val_accuracy']:.4f} (mean |Δp| from float "
                f"{s['val_probability_error']:.4f}, test {s['test_accuracy']:.4f}, "
                f"{s['bytes']:,} B)"
                for name, s in scores.items()
            )
            notes.append(f"{item.variant}: validation accuracy {text} → kept {item.quantizer}")
    if sources.layer_sparsity:
        per_layer = ", ".join(f"{k} {v:.3f}" for k, v in sources.layer_sparsity.items())
        notes.append(f"pruning target {config.edge.target_sparsity:g}: kernel sparsity {per_layer}")
    if sources.unpruned:
        notes.append(f"not pruned (no pruning for these layers): {', '.join(sources.unpruned)}")
    for source, why in sources.skipped.items():
        variants = [v for v in resolve_variants(config) if VARIANTS[v].source == source]
        notes.append(f"{', '.join(variants)} skipped: {why}")
    notes.append(
        "GPU delegate: tf.lite.experimental.Analyzer(gpu_compatibility=True) output per file in "
        "analysis/; this TF build's analyzer has no per-op GPU checker, so 'yes' also requires "
        "builtin ops only (a custom or Flex op stays on the CPU)"
    )
    return notes


def optimize_path(
    path: Path,
    overrides: list[str],
    out_dir: Path | None = None,
    encrypt_key: Path | None = None,
    options: ModelOptions | None = None,
) -> EdgeResult:
    """The stage for MODEL at `path`: described by the door, with its data (a run's own, or
    `options.data`), into `out_dir` (RUN_DIR/edge for a run, else `<name>-edge` beside MODEL).

    With `encrypt_key` every file is then replaced by its encrypted `.tflite.enc` (edge.encrypt),
    bound to the model's name and its version (the run folder's name, or the file's stem).
    """
    from tfmodel.analysis.model_card import write_model_card
    from tfmodel.runs import METRICS_FILE

    if encrypt_key:
        read_key(encrypt_key)  # fail on a bad key before any work
    out_dir = out_dir or default_output(path)
    check_writable(out_dir)  # before the model is even read
    model = resolve_model(path, options or ModelOptions(), overrides)
    resolve_variants(model.config)  # fail on a typo before any work
    model, splits = load_model_data(model)
    if splits is None:
        raise UserError(
            f"edge.optimize {path}: no data to calibrate int8 and measure the files with; "
            "pass --data SOURCE (e.g. --data images:photos/, one folder per class)"
        )
    out_dir = prepared_output(out_dir, model.name)
    version = path.resolve().name if path.is_dir() else path.stem
    result = optimize(model, splits, out_dir, version)
    if encrypt_key:
        for file in encrypt_folder(out_dir, encrypt_key):
            print(f"encrypted {file}")
    if (path / METRICS_FILE).is_file():  # a run trained by tfmodel.train: refresh its card
        print(f"model card: {write_model_card(path, out_dir)}")
    elif model.kind != RUN:
        report_data = json.loads((out_dir / report.REPORT_JSON).read_text())
        print(f"model card: {write_edge_card(model, splits, out_dir, report_data)}")
    return result


def default_output(path: Path) -> Path:
    """RUN_DIR/edge for a run folder, else `<MODEL's name>-edge` beside MODEL."""
    from tfmodel.runs import CONFIG_FILE, EDGE_DIR

    if (path / CONFIG_FILE).is_file():
        return path / EDGE_DIR
    stem = path.stem if path.is_file() else path.resolve().name
    return path.resolve().parent / f"{stem}{EDGE_SUFFIX}"


def check_writable(out_dir: Path) -> None:
    """UserError unless `out_dir` can be written; a folder made to find out is removed again, so
    a model refused later leaves nothing behind."""
    from tfmodel.runs import writable_dir

    missing = [folder for folder in (out_dir, *out_dir.parents) if not folder.exists()]
    writable_dir(out_dir, "edge output folder")
    if missing:
        shutil.rmtree(missing[-1])


def prepared_output(out_dir: Path, name: str) -> Path:
    """`out_dir` checked writable, without the files of an earlier, longer variant list or a
    signature of old files."""
    from tfmodel.runs import writable_dir

    out_dir = writable_dir(out_dir, f"edge output folder of {name}")
    stale = ["model_*.tflite", f"model_*.tflite{SUFFIX}", SIGNATURE_FILE]
    for path in [p for pattern in stale for p in out_dir.glob(pattern)]:
        path.unlink()
    return out_dir


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser("python -m edge.optimize", __doc__, EXAMPLES)
    parser.add_argument("model", type=Path, help=f"MODEL: {MODEL_KINDS_HELP}")
    add_model_flags(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set edge.target_sparsity=0.5 (repeatable)",
    )
    parser.add_argument("--variants", help=f"edge.variants, comma-separated: {','.join(VARIANTS)}")
    parser.add_argument("--qat", action="store_true", help="edge.qat: add quantization-aware int8")
    parser.add_argument(
        "--output", type=Path, help=f"output folder (RUN_DIR/edge; MODEL's name + {EDGE_SUFFIX})"
    )
    parser.add_argument(
        "--sign-key", type=Path, help="PEM private key: sign the folder (model.sig)"
    )
    parser.add_argument(
        "--encrypt-key",
        type=Path,
        help="key file (python -m edge.encrypt keygen): write the files AES-256-GCM-encrypted",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.set)
    if args.variants:
        overrides.append(f"edge.variants=[{args.variants}]")
    if args.qat:
        overrides.append("edge.qat=true")
    try:
        result = optimize_path(
            args.model, overrides, args.output, args.encrypt_key, model_options(args)
        )
        if args.sign_key:  # after encrypting: the signature covers the encrypted bytes
            print(f"signed {sign_model(result.out_dir, args.sign_key)}")
    except (UserError, EdgeError) as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
