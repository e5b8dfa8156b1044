"""`python -m serving.server.log_summary FILE...`: what a request log (or warmup file) holds.

Reads TFRecord files of `PredictionLog` records, as the server's request logs
(`serving.server.core.request_log`) and warmup files are, and prints: how many records of each kind,
which model versions and signatures answered them, the time they span, the inputs sent (name,
dtype, shape), the rows and tf.Examples they carried, the classes predicted, and whether the
file can serve as a warmup file as it is (TF Serving replays at most 1000 records).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

from tensorflow_serving.apis import prediction_log_pb2

from edge.device.quiet import add_verbose_flag
from serving.errors import UsageError, report_error
from serving.server.backend import tf
from serving.tensors import make_ndarray

MAX_WARMUP_RECORDS = 1000  # TF Serving's limit, as serving.server.core.warmup enforces it


def read_logs(paths: Iterable[str]) -> Iterable[prediction_log_pb2.PredictionLog]:
    """Every PredictionLog record of the files, in order."""
    for path in paths:
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                yield prediction_log_pb2.PredictionLog.FromString(record)
        except (tf.errors.OpError, ValueError) as error:
            raise UsageError(
                f"{path}: not a TFRecord file of PredictionLog records ({error}); pass a request "
                "log written by the server (<filename_prefix>-NNNNN.tfrecord) or a warmup file"
            ) from error


def summarize(logs: Iterable[prediction_log_pb2.PredictionLog]) -> dict[str, Counter]:
    """Counters of kinds, model versions, inputs, examples, classes, and the time span."""
    counts = {key: Counter() for key in ("kind", "model", "input", "rows", "class", "time")}
    for log in logs:
        kind = log.WhichOneof("log_type") or "empty"
        counts["kind"][kind] += 1
        spec = log.log_metadata.model_spec
        version = spec.version.value if spec.HasField("version") else "?"
        model = f"{spec.name or '?'} v{version} ({spec.signature_name or 'serving_default'})"
        counts["model"][model] += 1
        if log.log_metadata.timestamp_secs:
            counts["time"][log.log_metadata.timestamp_secs] += 1
        if kind == "predict_log":
            _count_predict(log.predict_log, counts)
        elif kind in ("classify_log", "regress_log", "multi_inference_log"):
            examples = getattr(log, kind).request.input
            which = examples.WhichOneof("kind")
            rows = len(getattr(examples, which).examples) if which else 0
            counts["rows"]["tf.Examples"] += rows
    return counts


def _count_predict(predict_log, counts: dict[str, Counter]) -> None:
    for name, tensor in sorted(predict_log.request.inputs.items()):
        shape = [dim.size for dim in tensor.tensor_shape.dim]
        counts["input"][f"{name} {tf.dtypes.as_dtype(tensor.dtype).name} {shape}"] += 1
        if shape:
            counts["rows"]["rows"] += shape[0]
    classes = predict_log.response.outputs.get("classes")
    if classes is not None:
        for value in make_ndarray(classes).reshape(-1).tolist():
            counts["class"][value] += 1


def format_summary(counts: dict[str, Counter], files: int) -> str:
    records = sum(counts["kind"].values())
    times = sorted(counts["time"])
    span = "no timestamps (a warmup file?)"
    if times:
        first, last = (dt.datetime.fromtimestamp(t, dt.timezone.utc) for t in (times[0], times[-1]))
        span = f"{first:%Y-%m-%d %H:%M:%S} → {last:%Y-%m-%d %H:%M:%S} UTC"
    warmup = "yes" if 0 < records <= MAX_WARMUP_RECORDS else f"no (more than {MAX_WARMUP_RECORDS})"
    rows = [
        ("files", str(files)),
        ("records", str(records)),
        ("kinds", _most_common(counts["kind"])),
        ("models", _most_common(counts["model"])),
        ("time", span),
        ("inputs", _most_common(counts["input"]) or "-"),
        ("carried", _most_common(counts["rows"]) or "-"),
        ("classes", _most_common(counts["class"], limit=10) or "-"),
        ("warmup file", warmup if records else "no (empty)"),
    ]
    return "\n".join(f"{key:<13}{value}" for key, value in rows)


def _most_common(counter: Counter, limit: int = 5) -> str:
    shown = [f"{key} ×{count}" for key, count in counter.most_common(limit)]
    more = len(counter) - limit
    return ", ".join(shown) + (f", … {more} more" if more > 0 else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.server.log_summary",
        description="Summarise request logs (TFRecord files of PredictionLog records).",
        epilog="example:\n  python -m serving.server.log_summary /var/log/tfserving/digits-*.tfrecord",  # noqa: E501
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", help="request log or warmup files")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    try:
        counts = summarize(read_logs(args.files))
    except UsageError as error:
        return report_error(error, args.debug)
    print(format_summary(counts, len(args.files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
