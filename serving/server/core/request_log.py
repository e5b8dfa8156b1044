"""Request logs: TF Serving's per-model `logging_config`, written as TFRecord files.

    config { name: "digits" base_path: "/models/digits" model_platform: "tensorflow"
      logging_config {
        log_collector_config { type: "tfrecord" filename_prefix: "/logs/digits" }
        sampling_config { sampling_rate: 0.1 }
      }
    }

A sampled Predict, Classify, Regress or MultiInference call (gRPC or REST) is written as a
`PredictionLog` (request, response, and `log_metadata`: model name, version, signature, sampling
config, tags, time) to `<filename_prefix>-00000.tfrecord`; a file that reaches the size limit
(`--request_log_max_bytes`) is closed and the next number opened. These are the records of a
warmup file (`assets.extra/tf_serving_warmup_requests`), so logged traffic can warm the next
version or become a test set; `python -m serving.server.log_summary` summarises a file.

TF Serving's open-source build registers no log collector; here the collector type is
"tfrecord", and any other type is refused as TF Serving refuses it.
"""

import random
import re
import threading
import time
from pathlib import Path

from tensorflow_serving.apis import logging_pb2, model_pb2, prediction_log_pb2

from serving.server import metrics
from serving.server.backend import tf
from serving.server.status import invalid_argument

COLLECTOR_TYPE = "tfrecord"
DEFAULT_MAX_BYTES = 64 * 2**20
_RECORD_OVERHEAD = 16  # a TFRecord frames each record with a length, two CRCs


class _Collector:
    """One model's log files: sampling, then records appended, rotating by size."""

    def __init__(self, logging_config, tags: tuple[str, ...], max_bytes: int):
        self.config = logging_config
        self._tags = tags
        self._prefix = Path(logging_config.log_collector_config.filename_prefix)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._writer = None
        self._written = 0
        self._number = _next_file_number(self._prefix)

    def log(self, kind: str, request, response) -> None:
        if random.random() >= self.config.sampling_config.sampling_rate:
            return
        record = prediction_log_pb2.PredictionLog()
        entry = getattr(record, kind)
        entry.request.CopyFrom(request)
        entry.response.CopyFrom(response)
        record.log_metadata.CopyFrom(self._metadata(response))
        self._append(record.SerializeToString())
        metrics.REQUEST_LOG_COUNT.labels(record.log_metadata.model_spec.name, "OK").inc()

    def _metadata(self, response) -> logging_pb2.LogMetadata:
        spec = response.model_spec if hasattr(response, "model_spec") else None
        if spec is None:  # MultiInference: each result carries its own
            spec = response.results[0].model_spec if response.results else model_pb2.ModelSpec()
        metadata = logging_pb2.LogMetadata(timestamp_secs=int(time.time()))
        metadata.model_spec.CopyFrom(spec)
        metadata.sampling_config.CopyFrom(self.config.sampling_config)
        metadata.saved_model_tags.extend(self._tags)
        return metadata

    def _append(self, data: bytes) -> None:
        with self._lock:
            if self._writer is not None and self._written + len(data) > self._max_bytes:
                self._close_file()
            if self._writer is None:
                self._prefix.parent.mkdir(parents=True, exist_ok=True)
                path = f"{self._prefix}-{self._number:05d}.tfrecord"
                self._writer, self._written = tf.io.TFRecordWriter(path), 0
                self._number += 1
            self._writer.write(data)
            self._writer.flush()  # a crash loses no logged request
            self._written += len(data) + _RECORD_OVERHEAD

    def _close_file(self) -> None:
        self._writer.close()
        self._writer = None

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._close_file()


def _next_file_number(prefix: Path) -> int:
    """One past the highest `<prefix>-NNNNN.tfrecord` already there: restarts never overwrite."""
    pattern = re.compile(re.escape(prefix.name) + r"-(\d+)\.tfrecord")
    numbers = [
        int(match.group(1))
        for path in (
            prefix.parent.glob(f"{prefix.name}-*.tfrecord") if prefix.parent.is_dir() else []
        )
        if (match := pattern.fullmatch(path.name))
    ]
    return max(numbers, default=-1) + 1


class RequestLogs:
    """The request loggers of every configured model, rebuilt when a model's config changes."""

    def __init__(self, tags: tuple[str, ...] = ("serve",), max_bytes: int = DEFAULT_MAX_BYTES):
        self._tags = tags
        self._max_bytes = max_bytes
        self._collectors: dict[str, _Collector] = {}
        self._lock = threading.Lock()

    def configure(self, entries) -> None:
        """Loggers for the models whose ModelConfig has a `logging_config` (checked first)."""
        for entry in entries:
            if entry.HasField("logging_config"):
                _check(entry.name, entry.logging_config)
        with self._lock:
            old, self._collectors = self._collectors, {}
            for entry in entries:
                if not entry.HasField("logging_config"):
                    continue
                kept = old.get(entry.name)
                if kept is not None and kept.config == entry.logging_config:
                    self._collectors[entry.name] = old.pop(entry.name)
                else:
                    self._collectors[entry.name] = _Collector(
                        entry.logging_config, self._tags, self._max_bytes
                    )
        for collector in old.values():
            collector.close()

    def log(self, kind: str, request, response) -> None:
        """Logs one answered request of kind `predict_log`, ... if its model samples it."""
        with self._lock:
            collector = self._collectors.get(_model_name(request))
        if collector is not None:
            collector.log(kind, request, response)

    def close(self) -> None:
        with self._lock:
            collectors, self._collectors = list(self._collectors.values()), {}
        for collector in collectors:
            collector.close()


def _model_name(request) -> str:
    """The model a request names (the first task's, for MultiInference)."""
    if hasattr(request, "tasks"):
        return request.tasks[0].model_spec.name if request.tasks else ""
    return request.model_spec.name


def _check(name: str, logging_config) -> None:
    collector = logging_config.log_collector_config
    if collector.type != COLLECTOR_TYPE:
        raise invalid_argument(
            f"Cannot find LogCollector::Factory for type: {collector.type} (model {name}; "
            f'the local server writes type: "{COLLECTOR_TYPE}")'
        )
    if not collector.filename_prefix:
        raise invalid_argument(f"Model {name}: log_collector_config needs a filename_prefix")
    rate = logging_config.sampling_config.sampling_rate
    if not 0.0 <= rate <= 1.0:
        raise invalid_argument(f"Model {name}: sampling_rate {rate} is outside [0, 1]")
