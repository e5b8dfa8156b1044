"""The edge stage: `python -m edge.optimize RUN_DIR` writes `RUN_DIR/edge/` for devices.

From the run's trained model: optional pruning and quantization-aware fine-tuning, then one
`.tflite` per variant in `edge.variants` (float32 always), model.json, labels.txt, samples.npz and
the report (report.json, report.md, size_vs_accuracy.png, analysis/ with the GPU-delegate check);
the run folder's model card is rewritten to list the variants. With `--encrypt-key` the files
are then encrypted (`edge.encrypt`), and with `--sign-key` the folder signed after that.
int8 files are made by both the TFLite converter and litert-quantizer; the one more accurate on
the validation split is kept (the smaller on a tie) and the report says which.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import report
from edge.convert import analyze_gpu_compatibility, softmax
from edge.device.cli import make_parser
from edge.device.crypto import SUFFIX, read_key
from edge.device.manifest import ModelFile, ModelIdentity, write_manifest, write_samples
from edge.device.names import SIGNATURE_FILE
from edge.device.runtime import EdgeError, find_interpreter
from edge.encrypt import encrypt_folder
from edge.variants import (
    VARIANTS,
    Converted,
    Sources,
    build_sources,
    convert_variants,
    resolve_variants,
)
from tfmodel.config import Config, apply_overrides
from tfmodel.errors import UserError, report_error
from tfmodel.sign import sign_model

EXAMPLES = """examples:
  python -m edge.optimize runs/latest
  python -m edge.optimize runs/latest --set edge.target_sparsity=0.5 --set edge.prune_epochs=2
  python -m edge.optimize runs/latest --variants float32,int8,pruned_int8 --qat
  python -m edge.optimize runs/digits_mlp-20250101-120000 --output /tmp/edge
  python -m edge.optimize runs/latest --sign-key model-signing.key   # also writes edge/model.sig
  python -m edge.optimize runs/latest --encrypt-key model-encryption.key  # .tflite.enc files

Then on the device: python -m edge.device.predict RUN_DIR/edge/model_int8.tflite digit.png
  (with --verify-key model-signing.pub it loads only files that key signed)
  (encrypted: python -m edge.device.predict model_int8.tflite.enc digit.png --decrypt-key KEY)
"""
SAMPLE_COUNT = 200
LATENCY_RUNS = 200


@dataclass
class EdgeResult:
    """What the stage wrote and measured."""

    out_dir: Path
    rows: list[report.VariantResult]
    manifest: dict[str, Any]
    sparsity: dict[str, float]
    unpruned: list[str]  # layers with a kernel that tfmot could not prune


def optimize(
    model: Any,
    splits: Any,
    config: Config,
    out_dir: Path,
    keras_file: Path | None = None,
    version: str | None = None,
) -> EdgeResult:
    """Write every variant of `model` with model.json and the report into `out_dir`.

    A model trained in mixed precision is converted as its float32 copy (TFLite's converter
    takes float32 graphs; its float16/int8 variants are where precision is reduced). model.json
    names the model as its export does and the version `version`, by default the name of the
    folder above `out_dir` (the run folder, for RUN_DIR/edge).
    """
    from tfmodel.models import inference_model

    model = inference_model(model)
    variants = resolve_variants(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = build_sources(model, splits, config, variants)
    converted = convert_variants(sources, variants, splits, config, out_dir)
    version = version or out_dir.resolve().parent.name
    manifest = write_manifest_and_samples(out_dir, converted.files, model, splits, config, version)
    rows = measure_all(model, splits, converted, keras_file, sources.float.sparsity)
    write_and_print_report(out_dir, rows, converted, sources, config)
    return EdgeResult(out_dir, rows, manifest, sources.layer_sparsity, sources.unpruned)


def write_manifest_and_samples(
    out_dir: Path,
    files: list[ModelFile],
    model: Any,
    splits: Any,
    config: Config,
    version: str,
) -> dict[str, Any]:
    """model.json and labels.txt for the files, and samples.npz; returns model.json's content.

    samples.npz holds the first test examples with the Keras model's probabilities, so a device
    can check its interpreter's answers against the model that was trained.
    """
    from tfmodel.export.saved_model import export_model_name

    identity = ModelIdentity(export_model_name(config), version)
    manifest = write_manifest(
        out_dir, files, splits.class_names, splits.input_shape, splits.pixel_max, identity
    )
    x_samples, y_samples = splits.x_test[:SAMPLE_COUNT], splits.y_test[:SAMPLE_COUNT]
    write_samples(out_dir, x_samples, y_samples, softmax(model.predict(x_samples, verbose=0)))
    return manifest


def measure_all(
    model: Any,
    splits: Any,
    converted: Converted,
    keras_file: Path | None,
    float_sparsity: float,
) -> list[report.VariantResult]:
    """The Keras row, then one row per file, each with its GPU-delegate check saved to analysis/."""
    x, y = splits.x_test, splits.y_test
    size = keras_file.stat().st_size if keras_file else None
    keras = report.keras_row(model, x, y, size, float_sparsity, LATENCY_RUNS)
    reference = softmax(model.predict(x, verbose=0)).argmax(axis=1)
    rows = [keras]
    analysis_dir = converted.files[0].path.parent / "analysis"
    analysis_dir.mkdir(exist_ok=True)
    for item in converted.files:
        row = report.measure_file(item, x, y, reference, LATENCY_RUNS)
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
    notes = describe_choices(converted, sources, config)
    extra = {
        "target_sparsity": config.edge.target_sparsity,
        "layer_sparsity": sources.layer_sparsity,
        "unpruned_layers": sources.unpruned,
    }
    report_data = report.build_report(rows, find_interpreter()[1], extra)
    report.write_report(out_dir, report_data, rows, notes)
    for note in notes:
        print(f"- {note}")
    print(f"\nedge variants in {out_dir} (report.md, size_vs_accuracy.png):")
    print(report.format_table(rows))


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
        notes.append(
            f"not pruned (tfmot has no pruning for these layers): {', '.join(sources.unpruned)}"
        )
    notes.append(
        "GPU delegate: tf.lite.experimental.Analyzer(gpu_compatibility=True) output per file in "
        "analysis/; this TF build's analyzer has no per-op GPU checker, so 'yes' also requires "
        "builtin ops only (a custom or Flex op stays on the CPU)"
    )
    return notes


def optimize_run(
    run_dir: Path,
    overrides: list[str],
    out_dir: Path | None = None,
    encrypt_key: Path | None = None,
) -> EdgeResult:
    """The stage for a finished run folder: its config (plus overrides), model and data.

    With `encrypt_key` every file is then replaced by its encrypted `.tflite.enc` (edge.encrypt),
    bound to the model's name and the run folder's name as its version.
    """
    from tfmodel.analysis.model_card import write_model_card
    from tfmodel.data import load_splits
    from tfmodel.runs import EDGE_DIR, METRICS_FILE, MODEL_FILE, load_run, writable_dir

    out_dir = writable_dir(out_dir or run_dir / EDGE_DIR, "edge output folder")
    if encrypt_key:
        read_key(encrypt_key)  # fail on a bad key before any work
    config, model = load_run(run_dir)
    apply_overrides(config, overrides)
    resolve_variants(config)  # fail on a typo before any work
    splits = load_splits(config.data, config.training.seed)
    stale = ["model_*.tflite", f"model_*.tflite{SUFFIX}", SIGNATURE_FILE]
    for path in [p for pattern in stale for p in out_dir.glob(pattern)]:
        path.unlink()  # files of an earlier, longer variant list; a signature of old files
    version = run_dir.resolve().name
    result = optimize(model, splits, config, out_dir, run_dir / MODEL_FILE, version)
    if encrypt_key:
        for path in encrypt_folder(out_dir, encrypt_key):
            print(f"encrypted {path}")
    if (run_dir / METRICS_FILE).is_file():  # a run trained by tfmodel.train: refresh its card
        print(f"model card: {write_model_card(run_dir, out_dir)}")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser("python -m edge.optimize", __doc__, EXAMPLES)
    parser.add_argument("run_dir", type=Path, help="a finished run folder, e.g. runs/latest")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set edge.target_sparsity=0.5 (repeatable)",
    )
    parser.add_argument("--variants", help=f"edge.variants, comma-separated: {','.join(VARIANTS)}")
    parser.add_argument("--qat", action="store_true", help="edge.qat: add quantization-aware int8")
    parser.add_argument("--output", type=Path, help="output folder (default RUN_DIR/edge)")
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
        optimize_run(args.run_dir, overrides, args.output, args.encrypt_key)
        if args.sign_key:  # after encrypting: the signature covers the encrypted bytes
            from tfmodel.runs import EDGE_DIR

            print(f"signed {sign_model(args.output or args.run_dir / EDGE_DIR, args.sign_key)}")
    except (UserError, EdgeError) as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
