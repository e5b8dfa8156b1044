"""The report's recommendation: the fastest file within `edge.max_accuracy_drop` of the model."""

from __future__ import annotations

from edge.report import VariantResult, recommend, recommendation


def row(variant: str, accuracy: float, p50_ms: float) -> VariantResult:
    keras = variant == "keras"
    return VariantResult(
        variant=variant,
        file=None if keras else f"model_{variant}.tflite",
        quantizer=None,
        test_accuracy=accuracy,
        agreement=1.0,
        bytes=None if keras else 1000,
        gzip_bytes=None if keras else 900,
        sparsity=0.0,
        p50_ms=p50_ms,
        p99_ms=p50_ms,
    )


def test_the_fastest_file_within_the_tolerance_is_recommended():
    rows = [
        row("keras", 0.90, 5.0),
        row("float32", 0.90, 1.0),
        row("int8", 0.895, 0.6),  # within 0.01
        row("pruned_int8", 0.85, 0.3),  # faster, but 5 points off
    ]
    assert recommend(rows, 0.01).file == "model_int8.tflite"
    assert recommend(rows, 0.1).file == "model_pruned_int8.tflite"
    assert recommendation(rows, 0.01).startswith("ship model_int8.tflite on this CPU")


def test_no_file_within_the_tolerance_says_so():
    rows = [row("keras", 0.90, 5.0), row("float32", 0.80, 1.0)]
    assert recommend(rows, 0.01) is None
    assert "no file is within edge.max_accuracy_drop 0.01" in recommendation(rows, 0.01)
