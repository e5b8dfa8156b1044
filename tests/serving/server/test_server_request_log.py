"""Request logs from a model's logging_config: sampled PredictionLogs in rotating TFRecord files,
usable as a warmup file, summarised by `python -m serving.server.log_summary`."""

import shutil

import numpy as np
import pytest
from tensorflow_serving.apis import prediction_log_pb2

from serving.client import ServingClient
from serving.errors import UsageError
from serving.server import log_summary
from serving.server.core.warmup import WARMUP_FILE, replay_warmup
from serving.server.metrics import REGISTRY
from serving.server.servables.servable import load_servable
from tfmodel.backend import tf


def models_config(tmp_path, base, model: str, rate: float, kind: str = "tfrecord") -> str:
    prefix = tmp_path / "logs" / model
    path = tmp_path / f"{model}.config"
    path.write_text(
        f'model_config_list {{ config {{ name: "{model}" base_path: "{base}" '
        f'model_platform: "tensorflow" logging_config {{ '
        f'log_collector_config {{ type: "{kind}" filename_prefix: "{prefix}" }} '
        f"sampling_config {{ sampling_rate: {rate} }} }} }} }}"
    )
    return path


def read(files) -> list[prediction_log_pb2.PredictionLog]:
    return list(log_summary.read_logs(str(path) for path in files))


def logged_count(model: str) -> float:
    labels = {"model_name": model, "status_code": "OK"}
    return REGISTRY.get_sample_value(":tensorflow:serving:request_log_count_total", labels) or 0


def test_every_answered_request_is_logged_with_its_response(
    local_server, half_plus_two, tmp_path, http
):
    address = local_server(model_config_file=models_config(tmp_path, half_plus_two, "logged", 1))
    with ServingClient(address.grpc, "logged") as client:
        client.predict({"x": np.array([[1.0], [2.0]], np.float32)})
        with pytest.raises(Exception, match="not found"):
            client.predict({"nope": np.array([[1.0]], np.float32)})  # failed: not logged
    assert http(address.rest, "/v1/models/logged:predict", {"instances": [[4.0]]})[0] == 200
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert http(address.rest, "/v1/models/logged:classify", body)[0] == 200

    files = sorted((tmp_path / "logs").iterdir())
    assert [path.name for path in files] == ["logged-00000.tfrecord"]
    logs = read(files)
    assert [log.WhichOneof("log_type") for log in logs] == [
        "predict_log",
        "predict_log",
        "classify_log",
    ]
    first = logs[0]
    assert tf.make_ndarray(first.predict_log.request.inputs["x"]).tolist() == [[1.0], [2.0]]
    assert tf.make_ndarray(first.predict_log.response.outputs["y"]).tolist() == [[2.5], [3.0]]
    metadata = first.log_metadata
    assert (metadata.model_spec.name, metadata.model_spec.version.value) == ("logged", 123)
    assert metadata.model_spec.signature_name == "serving_default"
    assert metadata.sampling_config.sampling_rate == 1.0
    assert list(metadata.saved_model_tags) == ["serve"] and metadata.timestamp_secs > 0
    assert logs[2].classify_log.response.result.classifications[0].classes[0].score == 3.0
    assert logged_count("logged") == 3


def test_sampling_rate_zero_logs_nothing(local_server, half_plus_two, tmp_path, http):
    address = local_server(model_config_file=models_config(tmp_path, half_plus_two, "unlogged", 0))
    assert http(address.rest, "/v1/models/unlogged:predict", {"instances": [[4.0]]})[0] == 200
    assert not (tmp_path / "logs").exists()


def test_files_rotate_by_size_and_a_restart_never_overwrites(
    local_server, half_plus_two, tmp_path, http
):
    config = models_config(tmp_path, half_plus_two, "rotated", 1)
    for _ in range(2):  # two servers one after the other, on the same prefix
        address = local_server(model_config_file=config, request_log_max_bytes=1)
        for value in (1.0, 2.0):
            assert (
                http(address.rest, "/v1/models/rotated:predict", {"instances": [[value]]})[0] == 200
            )
        local_server.started.pop().stop(grace_seconds=0)
    names = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert names == [f"rotated-{n:05d}.tfrecord" for n in range(4)]  # one record per file
    assert all(len(read([tmp_path / "logs" / name])) == 1 for name in names)


def test_an_unknown_collector_type_is_refused_as_tf_serving_does(
    local_server, half_plus_two, tmp_path
):
    config = models_config(tmp_path, half_plus_two, "bad", 1, kind="pubsub")
    with pytest.raises(UsageError, match="Cannot find LogCollector::Factory for type: pubsub"):
        local_server(model_config_file=config)


def test_a_request_log_is_a_warmup_file_and_is_summarised(
    local_server, half_plus_two, tmp_path, capsys
):
    address = local_server(model_config_file=models_config(tmp_path, half_plus_two, "warm", 1))
    with ServingClient(address.grpc, "warm") as client:
        for value in (1.0, 2.0, 3.0):
            client.predict({"x": np.array([[value]], np.float32)})
    log_file = tmp_path / "logs" / "warm-00000.tfrecord"

    version = tmp_path / "next" / "1"
    shutil.copytree(half_plus_two / "123", version)
    (version / WARMUP_FILE).parent.mkdir()
    shutil.copy(log_file, version / WARMUP_FILE)
    servable = load_servable("warm", 1, str(version))
    assert replay_warmup(servable) == 3  # the server replays logged traffic on load
    servable.session.close()

    assert log_summary.main([str(log_file)]) == 0
    out = capsys.readouterr().out
    assert "records      3" in out
    assert "warm v123 (serving_default) ×3" in out
    assert "x float32 [1, 1] ×3" in out and "rows ×3" in out
    assert "warmup file  yes" in out
    assert log_summary.main([str(tmp_path / "missing.tfrecord")]) == 2
