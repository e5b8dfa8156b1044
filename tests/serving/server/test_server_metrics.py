"""Prometheus metrics: TF Serving's names, labels, units and buckets, scraped and parsed.

The metrics are process-wide (as TensorFlow's registry is), so each test serves its own model name
or compares counts before and after its requests.
"""

import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import UsageError
from serving.server.metrics import DEFAULT_PATH, read_monitoring_config
from tfmodel.backend import tf

# TF Serving's request and runtime latency buckets, Buckets::Exponential(10, 1.8, 33) in µs, as
# its exporter prints them (six significant digits); written out here from the formula.
LATENCY_LIMITS = [f"{10 * 1.8**i:.6g}" for i in range(33)] + ["+Inf"]


@pytest.fixture
def monitoring_config(tmp_path):
    path = tmp_path / "monitoring.config"
    path.write_text(f'prometheus_config {{ enable: true path: "{DEFAULT_PATH}" }}\n')
    return path


@pytest.fixture
def scrape(http):
    return lambda rest, path=DEFAULT_PATH: parse_page(*http(rest, path))


def parse_page(status: int, text: str) -> tuple[str, dict]:
    """The raw page and its samples parsed by prometheus_client: {(name, labels): value}."""
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def predict(address: str, model: str, version: int | None = None) -> grpc.StatusCode:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0]], tf.float32))
    with grpc.insecure_channel(address) as channel:
        try:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_requests_are_counted_and_timed_under_tf_serving_names(
    local_server, half_plus_two, monitoring_config, http, scrape
):
    model = "metrics_names"
    address = local_server(
        model_base_path=half_plus_two, model_name=model, monitoring_config_file=monitoring_config
    )
    assert predict(address.grpc, model) == grpc.StatusCode.OK
    assert predict(address.grpc, model) == grpc.StatusCode.OK
    assert predict(address.grpc, model, version=7) == grpc.StatusCode.NOT_FOUND
    assert http(address.rest, f"/v1/models/{model}:predict", {"instances": [1.0]})[0] == 200
    assert http(address.rest, f"/v1/models/{model}:predict", {"instances": "x"})[0] == 400
    assert http(address.rest, f"/v1/models/{model}")[0] == 200

    text, samples = scrape(address.rest)
    count = ":tensorflow:serving:request_count_total"  # the parser's name for a counter
    assert value(samples, count, model_name=model, status="OK") == 4  # 2 gRPC, predict + GET
    assert value(samples, count, model_name=model, status="NOT_FOUND") == 1
    assert value(samples, count, model_name=model, status="INVALID_ARGUMENT") == 1
    latency = ":tensorflow:serving:request_latency"
    assert (
        value(samples, f"{latency}_count", model_name=model, API="Predict", entrypoint="GRPC") == 2
    )
    assert (
        value(samples, f"{latency}_count", model_name=model, API="predict", entrypoint="REST") == 1
    )
    runtime = ":tensorflow:serving:runtime_latency_count"
    assert value(samples, runtime, model_name=model, API="Predict", runtime="TF1") == 3
    load = ":tensorflow:cc:saved_model:load_attempt_count_total"
    assert value(samples, load, model_path=str(half_plus_two / "123"), status="success") >= 1

    # written as TF Serving's exporter writes: TYPE lines, no HELP, counters without _total
    assert "# HELP" not in text and "_created" not in text
    assert "# TYPE :tensorflow:serving:request_count counter" in text.splitlines()
    assert f':tensorflow:serving:request_count{{model_name="{model}",status="OK"}} 4' in text
    series = [
        line
        for line in text.splitlines()
        if line.startswith(latency) and f'model_name="{model}",API="Predict"' in line
    ]
    buckets = [line.split('le="')[1].split('"')[0] for line in series[:-2]]
    assert buckets == LATENCY_LIMITS  # then _sum, then _count, as TF Serving orders them
    assert series[-2].startswith(f"{latency}_sum{{") and series[-1].startswith(f"{latency}_count{{")
    assert buckets[:6] == ["10", "18", "32.4", "58.32", "104.976", "188.957"]


def test_batch_sizes_and_padding_are_recorded_when_batching(
    local_server, half_plus_two, monitoring_config, http, scrape
):
    from serving.server.servables.batching import BatchingParameters

    batching = BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8))
    address = local_server(
        model_base_path=half_plus_two,
        model_name="metrics_batching",
        monitoring_config_file=monitoring_config,
        batching=batching,
    )
    _, before = scrape(address.rest)
    body = {"instances": [1.0, 2.0, 3.0]}  # 3 rows: padded to the allowed size 4
    assert http(address.rest, "/v1/models/metrics_batching:predict", body)[0] == 200
    _, after = scrape(address.rest)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    prefix = ":tensorflow:serving:batching_session"
    assert delta(f"{prefix}:processed_batch_size_count") == 1
    assert delta(f"{prefix}:processed_batch_size_sum") == 4
    assert delta(f"{prefix}:input_batch_size_sum") == 3
    assert delta(f"{prefix}:padding_size_sum", execution_batch_size="4") == 1
    assert delta(f"{prefix}:wrapped_run_count_total") == 1
    assert delta(f"{prefix}:queuing_latency_count", thread_pool_name="") == 1


def test_monitoring_config_picks_the_path_or_turns_metrics_off(
    local_server, half_plus_two, tmp_path, http, scrape
):
    custom = tmp_path / "custom.config"
    custom.write_text('prometheus_config { enable: true path: "/metrics" }')
    address = local_server(model_base_path=half_plus_two, monitoring_config_file=custom)
    assert scrape(address.rest, "/metrics")[1]
    assert http(address.rest, DEFAULT_PATH)[0] == 404

    off = tmp_path / "off.config"
    off.write_text("prometheus_config { enable: false }")
    address = local_server(model_base_path=half_plus_two, monitoring_config_file=off)
    assert http(address.rest, DEFAULT_PATH)[0] == 404
    address = local_server(model_base_path=half_plus_two)
    assert http(address.rest, DEFAULT_PATH)[0] == 404


def test_tf_serving_testdata_monitoring_config_is_read(tfserving_testdata):
    assert read_monitoring_config(str(tfserving_testdata / "monitoring_config.txt")) == DEFAULT_PATH


def test_a_bad_monitoring_config_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.config"
    bad.write_text("prometheus_config { enable: maybe }")
    with pytest.raises(UsageError, match="MonitoringConfig text proto"):
        read_monitoring_config(str(bad))
    with pytest.raises(UsageError, match="missing.config"):
        read_monitoring_config(str(tmp_path / "missing.config"))


@pytest.mark.slow
def test_cli_serves_metrics(server_process, half_plus_two, monitoring_config, scrape):
    _, address = server_process(
        f"--model_base_path={half_plus_two}", f"--monitoring_config_file={monitoring_config}"
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://{address.rest}/monitoring/other", timeout=10)
    text, _ = scrape(address.rest)
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
