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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge import convert, metadata, report
from edge.device.cli import make_parser
from edge.device.crypto import SUFFIX, read_key
from edge.device.manifest import ModelFile, ModelIdentity, write_manifest, write_samples
from edge.device.names import SIGNATURE_FILE
from edge.device.runtime import EdgeError, EdgeModel, find_interpreter
from edge.encrypt import encrypt_folder
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
# Variant name → (which Keras model it is converted from, which conversion).
VARIANTS = {
    "float32": ("float", "float32"),
    "dynamic": ("float", "dynamic"),
    "float16": ("float", "float16"),
    "int8": ("float", "int8"),  # float32 I/O: what devices use
    "int8_io": ("float", "int8_io"),  # int8 I/O: integer-only targets
    "pruned_float32": ("pruned", "float32"),
    "pruned_int8": ("pruned", "int8"),
    "qat_int8": ("qat", "int8"),
}
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


def resolve_variants(config: Config) -> list[str]:
    """`edge.variants` checked, with float32 first (the reference) and qat_int8 if `edge.qat`."""
    unknown = [v for v in config.edge.variants if v not in VARIANTS]
    if unknown:
        raise UserError(
            f"edge.variants has unknown {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(VARIANTS)}"
        )
    names = ["float32", *config.edge.variants, *(["qat_int8"] if config.edge.qat else [])]
    return list(dict.fromkeys(names))


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
    from edge.prune import overall_sparsity, prune_model
    from edge.qat import quantize_aware_finetune
    from tfmodel.export.saved_model import export_model_name
    from tfmodel.models import inference_model

    model = inference_model(model)
    variants = resolve_variants(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    input_name = config.model.input_name
    calibration = convert.calibration_examples(splits.x_train, seed=config.training.seed)
    sources = {"float": (model, overall_sparsity(model))}
    needed = {VARIANTS[v][0] for v in variants}
    layer_sparsity: dict[str, float] = {}
    unpruned: list[str] = []
    if "pruned" in needed:
        pruned = prune_model(model, splits, config)
        sources["pruned"] = (pruned.model, pruned.sparsity)
        layer_sparsity, unpruned = pruned.layer_sparsity, pruned.unpruned
    if "qat" in needed:
        sources["qat"] = (quantize_aware_finetune(model, splits, config), sources["float"][1])

    files, candidates = [], {}
    float_files: dict[str, bytes] = {}
    info = metadata.describe(
        config.output.name, splits.class_names, splits.input_shape, splits.pixel_max
    )
    if info is not None and metadata.writer_python() is None:
        print(metadata.missing_writer_note())
    for variant in variants:
        source, kind = VARIANTS[variant]
        keras_model, sparsity = sources[source]
        if source != "qat" and source not in float_files:
            float_files[source] = convert.convert_model(keras_model, input_name, "float32")
        quantizer = None if kind == "float32" else "tflite-converter"
        if kind == "int8_io" and source != "qat":
            content, quantizer, candidates[variant] = choose_int8(
                keras_model, float_files[source], input_name, calibration, splits
            )
        elif kind == "float32":
            content = float_files[source]
        else:
            content = convert.convert_model(keras_model, input_name, kind, calibration)
        path = out_dir / f"model_{variant}.tflite"
        path.write_bytes(content)
        embedded = info is not None and metadata.embed_metadata(path, {**info, "variant": variant})
        files.append(ModelFile(path, variant, quantizer, sparsity))
        print(f"wrote {path} ({path.stat().st_size:,} bytes{', metadata' if embedded else ''})")

    identity = ModelIdentity(export_model_name(config), version or out_dir.resolve().parent.name)
    manifest = write_manifest(
        out_dir, files, splits.class_names, splits.input_shape, splits.pixel_max, identity
    )
    x_samples, y_samples = splits.x_test[:SAMPLE_COUNT], splits.y_test[:SAMPLE_COUNT]
    write_samples(out_dir, x_samples, y_samples, softmax(model.predict(x_samples, verbose=0)))
    rows = measure_all(model, splits, files, candidates, keras_file, sources["float"][1])
    notes = describe_choices(files, candidates, layer_sparsity, unpruned, config)
    extra = {
        "target_sparsity": config.edge.target_sparsity,
        "layer_sparsity": layer_sparsity,
        "unpruned_layers": unpruned,
    }
    report_data = report.build_report(rows, find_interpreter()[1], extra)
    report.write_report(out_dir, report_data, rows, notes)
    for note in notes:
        print(f"- {note}")
    print(f"\nedge variants in {out_dir} (report.md, size_vs_accuracy.png):")
    print(report.format_table(rows))
    return EdgeResult(out_dir, rows, manifest, layer_sparsity, unpruned)


def choose_int8(
    keras_model: Any, float_tflite: bytes, input_name: str, calibration: np.ndarray, splits: Any
) -> tuple[bytes, str, dict[str, dict[str, float]]]:
    """(file, quantizer, scores): int8-I/O from each quantizer, the better on the validation split.

    Only int8 I/O has two candidates: litert-quantizer makes no float-I/O files.

    Better means more accurate; on a tie (common on small splits), closer to the float model's
    probabilities (mean |Δp|), then smaller. Test accuracy is recorded for the report only.
    """
    made = {
        "tflite-converter": convert.convert_model(keras_model, input_name, "int8_io", calibration)
    }
    if convert.litert_quantizer_available():
        made["litert-quantizer"] = convert.quantize_with_litert(
            float_tflite, input_name, calibration
        )
    x_val = splits.x_val if len(splits.x_val) else calibration
    float_probabilities = softmax(keras_model.predict(x_val, verbose=0))
    # Without a validation split, the float model's answers stand in for the labels.
    y_val = splits.y_val if len(splits.x_val) else float_probabilities.argmax(axis=1)
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in made.items():
            path = Path(tmp) / f"{name}.tflite"
            path.write_bytes(content)
            candidate = EdgeModel(path, verify=False)
            probabilities = candidate.predict(x_val)
            scores[name] = {
                "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == y_val)),
                "val_probability_error": float(
                    np.mean(np.abs(probabilities - float_probabilities))
                ),
                "test_accuracy": float(
                    np.mean(candidate.predict(splits.x_test).argmax(axis=1) == splits.y_test)
                ),
                "bytes": len(content),
            }
    best = max(
        made,
        key=lambda n: (
            scores[n]["val_accuracy"],
            -scores[n]["val_probability_error"],
            -scores[n]["bytes"],
        ),
    )
    return made[best], best, scores


def measure_all(
    model: Any,
    splits: Any,
    files: list[ModelFile],
    candidates: dict[str, dict[str, dict[str, float]]],
    keras_file: Path | None,
    float_sparsity: float,
) -> list[report.VariantResult]:
    """The Keras row, then one row per file, each with its GPU-delegate check saved to analysis/."""
    x, y = splits.x_test, splits.y_test
    size = keras_file.stat().st_size if keras_file else None
    keras = report.keras_row(model, x, y, size, float_sparsity, LATENCY_RUNS)
    reference = softmax(model.predict(x, verbose=0)).argmax(axis=1)
    rows = [keras]
    analysis_dir = files[0].path.parent / "analysis"
    analysis_dir.mkdir(exist_ok=True)
    for item in files:
        row = report.measure_file(item, x, y, reference, LATENCY_RUNS)
        content = item.path.read_bytes()
        gpu = convert.analyze_gpu_compatibility(content)
        row.gpu_compatible, row.ops = gpu.compatible, gpu.ops
        (analysis_dir / f"{item.path.stem}.txt").write_text(gpu.text)
        row.quantizer_candidates = candidates.get(item.variant, {})
        rows.append(row)
    return rows


def describe_choices(
    files: list[ModelFile],
    candidates: dict[str, dict[str, dict[str, float]]],
    layer_sparsity: dict[str, float],
    unpruned: list[str],
    config: Config,
) -> list[str]:
    """One sentence per int8 quantizer choice and for the pruning reached."""
    notes = []
    for item in files:
        scores = candidates.get(item.variant)
        if scores:
            text = "; ".join(
                f"{name} {s['val_accuracy']:.4f} (mean |Δp| from float "
                f"{s['val_probability_error']:.4f}, test {s['test_accuracy']:.4f}, "
                f"{s['bytes']:,} B)"
                for name, s in scores.items()
            )
            notes.append(f"{item.variant}: validation accuracy {text} → kept {item.quantizer}")
    if layer_sparsity:
        per_layer = ", ".join(f"{k} {v:.3f}" for k, v in layer_sparsity.items())
        notes.append(f"pruning target {config.edge.target_sparsity:g}: kernel sparsity {per_layer}")
    if unpruned:
        notes.append(f"not pruned (tfmot has no pruning for these layers): {', '.join(unpruned)}")
    notes.append(
        "GPU delegate: tf.lite.experimental.Analyzer(gpu_compatibility=True) output per file in "
        "analysis/; this TF build's analyzer has no per-op GPU checker, so 'yes' also requires "
        "builtin ops only (a custom or Flex op stays on the CPU)"
    )
    return notes


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 then float32, as the exported files apply it to the logits."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


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
