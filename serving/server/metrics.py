"""Prometheus metrics under TF Serving's names, written the way TF Serving's exporter writes them.

`--monitoring_config_file` names a MonitoringConfig text proto; with
`prometheus_config { enable: true }` the REST port answers GET `path` (default
`/monitoring/prometheus/metrics`) with the page below. The metrics are TF Serving's own
(servables/tensorflow/util.cc, batching/batching_session.cc, TensorFlow's SavedModel loader):

    :tensorflow:serving:request_count{model_name,status}           every Predict/Classify/Regress
                                                                    (gRPC) and every /v1/ REST call
    :tensorflow:serving:request_latency{model_name,API,entrypoint}  µs, successful requests only
    :tensorflow:serving:runtime_latency{model_name,API,runtime}     µs in the Session run ("TF1")
    :tensorflow:serving:batching_session:*                          batch sizes, padding, queuing
    :tensorflow:serving:request_log_count{model_name,status_code}   sampled requests logged
    :tensorflow:cc:saved_model:load_attempt_count{model_path,status}  version loads (success/fail)

As TF Serving's exporter does: a name's `/` become `:`, counters keep their name (no `_total`),
there are no HELP lines, numbers print with six significant digits, histogram buckets are TF's
`Buckets::Exponential(scale, growth, count)` limits and the last is `+Inf`. The values live in a
prometheus_client registry, process-wide like TensorFlow's monitoring registry.
"""

import functools
import time
from collections.abc import Callable

import grpc
import prometheus_client as prom
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving.errors import UsageError

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
REGISTRY = prom.CollectorRegistry(auto_describe=False)


def tf_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TensorFlow's Buckets::Exponential limits: scale, scale·growth, … (`count` of them)."""
    limits, bound = [], scale
    for _ in range(count):
        limits.append(bound)
        bound *= growth
    return tuple(limits)


def prometheus_name(tf_name: str) -> str:
    """TF Serving's exporter: every character outside [a-zA-Z0-9_] becomes `:`."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else ":" for c in tf_name)


def _counter(tf_name: str, labels: tuple[str, ...] = ()) -> prom.Counter:
    return prom.Counter(prometheus_name(tf_name), tf_name, labels, registry=REGISTRY)


def _histogram(tf_name: str, labels: tuple[str, ...], buckets) -> prom.Histogram:
    return prom.Histogram(
        prometheus_name(tf_name), tf_name, labels, buckets=buckets, registry=REGISTRY
    )


LATENCY_BUCKETS = tf_buckets(10, 1.8, 33)  # µs, "~20 minutes" in TF Serving's comment
BATCH_SIZE_BUCKETS = tf_buckets(1, 2, 14)
QUEUING_BUCKETS = tf_buckets(100, 1.2, 52)

REQUEST_COUNT = _counter("/tensorflow/serving/request_count", ("model_name", "status"))
REQUEST_LATENCY = _histogram(
    "/tensorflow/serving/request_latency", ("model_name", "API", "entrypoint"), LATENCY_BUCKETS
)
RUNTIME_LATENCY = _histogram(
    "/tensorflow/serving/runtime_latency", ("model_name", "API", "runtime"), LATENCY_BUCKETS
)
INPUT_BATCH_SIZE = _histogram(
    "/tensorflow/serving/batching_session/input_batch_size", (), BATCH_SIZE_BUCKETS
)
PROCESSED_BATCH_SIZE = _histogram(
    "/tensorflow/serving/batching_session/processed_batch_size", (), BATCH_SIZE_BUCKETS
)
PADDING_SIZE = _histogram(
    "/tensorflow/serving/batching_session/padding_size",
    ("execution_batch_size",),
    BATCH_SIZE_BUCKETS,
)
QUEUING_LATENCY = _histogram(
    "/tensorflow/serving/batching_session/queuing_latency", ("thread_pool_name",), QUEUING_BUCKETS
)
WRAPPED_RUN_COUNT = _counter("/tensorflow/serving/batching_session/wrapped_run_count")
REQUEST_LOG_COUNT = _counter("/tensorflow/serving/request_log_count", ("model_name", "status_code"))
LOAD_ATTEMPT_COUNT = _counter(
    "/tensorflow/cc/saved_model/load_attempt_count", ("model_path", "status")
)


def record_request(model: str, api: str, entrypoint: str, status: str, micros: float) -> None:
    """One finished request: counted by status; its latency kept when it succeeded (as TF)."""
    REQUEST_COUNT.labels(model, status).inc()
    if status == "OK":
        REQUEST_LATENCY.labels(model, api, entrypoint).observe(int(micros))


def timed_run(servable, api: str, feeds: dict, fetches: list[str]) -> list:
    """Runs a Servable's graph, recording its wall time as TF Serving's runtime latency."""
    start = time.perf_counter()
    values = servable.run(feeds, fetches)
    _runtime_latency(servable.name, api).observe(int(micros_since(start)))
    return values


@functools.lru_cache(maxsize=1024)
def _runtime_latency(model: str, api: str):
    """The runtime-latency series of one model and API, found once (a labels() call locks the
    metric and builds its key: a tenth of our per-request Python)."""
    return RUNTIME_LATENCY.labels(model, api, "TF1")


def record_batch(task_sizes: list[int], padded_size: int, queued_micros: list[float]) -> None:
    """One merged batch of the batching session: its tasks, padding and their time in queue."""
    for size, micros in zip(task_sizes, queued_micros, strict=True):
        INPUT_BATCH_SIZE.observe(size)
        QUEUING_LATENCY.labels("").observe(int(micros))
    PADDING_SIZE.labels(str(padded_size)).observe(padded_size - sum(task_sizes))
    PROCESSED_BATCH_SIZE.observe(padded_size)
    WRAPPED_RUN_COUNT.inc()


def micros_since(start: float) -> float:
    """Microseconds since `start` (a `time.perf_counter()` reading): TF Serving's unit."""
    return (time.perf_counter() - start) * 1e6


def render_page() -> str:
    """The metrics page, line for line in the form of TF Serving's PrometheusExporter."""
    lines: list[str] = []
    for family in sorted(REGISTRY.collect(), key=lambda family: family.name):
        lines.append(f"# TYPE {family.name} {family.type}")
        if family.type == "histogram":
            lines += _histogram_lines(family)
        else:
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                lines.append(f"{family.name}{{{_labels(sample.labels)}}} {int(sample.value)}")
    return "\n".join(lines) + "\n"


def _histogram_lines(family) -> list[str]:
    """Per label set: the cumulative buckets, then `_sum`, then `_count` (TF Serving's order)."""
    series: dict[str, dict[str, list[str]]] = {}
    for sample in family.samples:
        prefix = _labels({k: v for k, v in sample.labels.items() if k != "le"})
        lines = series.setdefault(prefix, {"_bucket": [], "_sum": [], "_count": []})
        if sample.name.endswith("_bucket"):
            le = sample.labels["le"]
            limit = le if le == "+Inf" else _six_digits(float(le))
            joined = f"{prefix}," if prefix else ""
            lines["_bucket"].append(
                f'{family.name}_bucket{{{joined}le="{limit}"}} {int(sample.value)}'
            )
        elif sample.name.endswith("_sum"):
            lines["_sum"].append(f"{family.name}_sum{{{prefix}}} {_six_digits(sample.value)}")
        elif sample.name.endswith("_count"):
            lines["_count"].append(f"{family.name}_count{{{prefix}}} {int(sample.value)}")
    return [line for lines in series.values() for kind in lines.values() for line in kind]


def _six_digits(value: float) -> str:
    """A double as absl::StrCat prints it: six significant digits, e.g. 188.957, 1.45705e+09."""
    return f"{value:.6g}"


def _labels(labels: dict[str, str]) -> str:
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"') for v in labels.values())
    return ",".join(f'{name}="{value}"' for name, value in zip(labels, escaped, strict=True))


def _monitoring_config_class():
    """MonitoringConfig is not in the tensorflow-serving-api wheel: declare its two messages."""
    file = descriptor_pb2.FileDescriptorProto(
        name="tfmodel_monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    fields = descriptor_pb2.FieldDescriptorProto
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=fields.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, type=fields.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=fields.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    )


def read_monitoring_config(path: str) -> str | None:
    """The metrics path a MonitoringConfig text proto turns on, or None if Prometheus is off."""
    config = _monitoring_config_class()()
    try:
        with open(path) as file:
            text_format.Parse(file.read(), config)
    except (OSError, text_format.ParseError) as error:
        raise UsageError(
            f"--monitoring_config_file {path}: {error}. Write a MonitoringConfig text proto, "
            f'e.g. prometheus_config {{ enable: true path: "{DEFAULT_PATH}" }}'
        ) from error
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PATH


_COUNTED_RPCS = {  # TF Serving counts and times these three PredictionService calls over gRPC
    "/tensorflow.serving.PredictionService/Predict": "Predict",
    "/tensorflow.serving.PredictionService/Classify": "Classify",
    "/tensorflow.serving.PredictionService/Regress": "Regress",
}


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times Predict, Classify and Regress over gRPC (entrypoint "GRPC").

    grpcio asks the interceptors for every call on its one dispatching thread, the server's
    busiest; so each method's counting handler is built once and reused.
    """

    def __init__(self):
        self._counted: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    def intercept_service(self, continuation: Callable, handler_call_details):
        handler = continuation(handler_call_details)
        api = _COUNTED_RPCS.get(handler_call_details.method)
        if handler is None or api is None or handler.unary_unary is None:
            return handler
        counted = self._counted.get(handler)
        if counted is None:
            counted = self._counted[handler] = handler._replace(
                unary_unary=_counting(handler.unary_unary, api)
            )
        return counted


def _counting(inner: Callable, api: str) -> Callable:
    """A unary behaviour recording each call's status and latency, then answering as `inner`."""

    def counted(request, context):
        start = time.perf_counter()
        try:
            response = inner(request, context)
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            record_request(request.model_spec.name, api, "GRPC", code.name, 0)
            raise
        record_request(request.model_spec.name, api, "GRPC", "OK", micros_since(start))
        return response

    return counted
