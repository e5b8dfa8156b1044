"""No freeze: a model waiting for its first version blocks nothing else; failed loads are retried.

In TF Serving a config reload waits until its new models are available while the file-system
source keeps polling every model; a load that fails is retried `--max_num_load_retries` times,
`--load_retry_interval_micros` apart, before the version ends in error.
"""

import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.server.core.server_core import CoreOptions
from serving.server.model_server import ModelServer, ServerOptions
from tfmodel.backend import tf

TIMEOUT = 10
State = get_model_status_pb2.ModelVersionStatus


def wait_for(condition, what: str, seconds: float = 60) -> None:
    """Polls `condition()` until true; fails naming `what` after `seconds` (a hang, not a speed)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def served_version(address: str, model: str) -> int | None:
    """The version answering a Predict of `model`, or None while it serves none."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], tf.float32))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
    try:
        return stub.Predict(request, TIMEOUT).model_spec.version.value
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        return None


def reload_request(**models) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    for name, base in models.items():
        request.config.model_config_list.config.add(
            name=name, base_path=str(base), model_platform="tensorflow"
        )
    return request


def test_a_model_without_versions_waits_without_blocking_the_others(
    local_server, tmp_path, make_half_plus_two
):
    ready, waiting = tmp_path / "ready", tmp_path / "waiting"
    make_half_plus_two(ready, 1)
    waiting.mkdir()
    address = local_server(model_base_path=ready, model_name="ready").grpc
    models = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(address))
    reload_done = []
    reload = threading.Thread(
        target=lambda: reload_done.append(
            models.HandleReloadConfigRequest(reload_request(ready=ready, waiting=waiting), 120)
        )
    )
    reload.start()
    try:
        assert served_version(address, "ready") == 1  # still serving while the reload waits
        make_half_plus_two(ready, 2)
        wait_for(lambda: served_version(address, "ready") == 2, "ready's new version 2")
        assert reload_done == [] and served_version(address, "waiting") is None
        make_half_plus_two(waiting, 7)
        wait_for(lambda: reload_done, "the reload to return once waiting has a version")
        assert served_version(address, "waiting") == 7
    finally:
        make_half_plus_two(waiting, 8)  # lets a stuck reload end before the fixture stops
        reload.join(60)


def test_stop_ends_a_config_file_reload_waiting_for_a_model(local_server, tmp_path, half_plus_two):
    """The deadlock of the issue: stop joined the config poller, stuck in a reload waiting for a
    model without versions, before telling the reload to stop waiting."""
    (tmp_path / "never").mkdir()
    config = tmp_path / "models.config"
    config.write_text(str(reload_request(default=half_plus_two).config))
    local_server(model_config_file=config, model_config_file_poll_wait_seconds=0.1)
    server = local_server.started[-1]
    config.write_text(str(reload_request(default=half_plus_two, never=tmp_path / "never").config))
    wait_for(lambda: "never" in server.core._configs, "the config poller to start waiting")
    stopper = threading.Thread(target=server.stop, kwargs={"grace_seconds": 0})
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive(), "stop() deadlocked"


def test_a_failed_startup_load_is_retried_until_it_succeeds(tmp_path, make_half_plus_two, caplog):
    base = tmp_path / "half"
    (base / "1").mkdir(parents=True)  # a version folder still being written: no SavedModel yet
    options = ServerOptions(
        port=0,
        model_base_path=str(base),
        core=CoreOptions(
            file_system_poll_wait_seconds=0.1,
            max_num_load_retries=100,
            load_retry_interval_seconds=0.1,
        ),
    )
    server = ModelServer(options)
    starting = threading.Thread(target=server.start)
    try:
        starting.start()
        wait_for(lambda: "Loading default version 1 failed" in caplog.text, "a failed load")
        make_half_plus_two(base, 1)  # the export finishes; the next retry loads it
        starting.join(60)
        assert server.grpc_port is not None
        assert served_version(f"127.0.0.1:{server.grpc_port}", "default") == 1
    finally:
        server.stop(grace_seconds=0)


def test_retries_give_up_after_max_num_load_retries(local_server, tmp_path, caplog):
    (tmp_path / "bad" / "1").mkdir(parents=True)
    with pytest.raises(Exception, match="did not become available"):
        local_server(model_base_path=tmp_path / "bad", max_num_load_retries=2)
    assert caplog.text.count("Loading default version 1 failed") == 3  # the first try + 2 retries
