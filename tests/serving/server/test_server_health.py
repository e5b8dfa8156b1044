"""The gRPC health service (readiness) and the drain on stop, against real local servers."""

import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfmodel.backend import tf

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WAIT = 60  # upper bound for a state change to show, never a timing assertion


def check(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} not seen within {WAIT} s"
        time.sleep(0.05)


def predict_request(model: str = "default") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[2.0]], tf.float32))
    return request


def test_health_service_answers_for_tf_serving_service_names(local_server, half_plus_two):
    address = local_server(model_base_path=half_plus_two, enable_grpc_healthcheck_service=True)
    for service in ("", "ModelService", "PredictionService"):
        assert check(address.grpc, service) == SERVING
    with pytest.raises(grpc.RpcError) as error:
        check(address.grpc, "NoSuchService")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_service_is_off_unless_asked(local_server, half_plus_two):
    address = local_server(model_base_path=half_plus_two)
    with pytest.raises(grpc.RpcError) as error:
        check(address.grpc)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_not_ready_while_a_configured_model_has_no_available_version(
    local_server, half_plus_two, make_half_plus_two, tmp_path
):
    address = local_server(model_base_path=half_plus_two, enable_grpc_healthcheck_service=True)
    late = tmp_path / "late"
    late.mkdir()  # no version yet: the new model cannot become available
    request = model_management_pb2.ReloadConfigRequest()
    for name, base in (("default", half_plus_two), ("late", late)):
        entry = request.config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base), "tensorflow"
    with grpc.insecure_channel(address.grpc) as channel:
        reload = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest.future(
            request, timeout=WAIT
        )
        wait_for(lambda: check(address.grpc) == NOT_SERVING, "NOT_SERVING for 'late'")
        assert check(address.grpc, "PredictionService") == NOT_SERVING
        staged = make_half_plus_two(tmp_path / "staging", 1)
        staged.rename(late / "1")  # whole, as an export does; the poll loads it

        reload.result()
    assert check(address.grpc) == SERVING


def test_drain_turns_readiness_false_first_and_lets_in_flight_requests_finish(
    local_server, half_plus_two
):
    address = local_server(model_base_path=half_plus_two, enable_grpc_healthcheck_service=True)
    server = local_server.started[-1]
    servable = server.core.servable(predict_request().model_spec)
    entered, release = threading.Event(), threading.Event()

    def held_run(feeds, fetches):  # the request stays in flight until the test releases it
        entered.set()
        release.wait(WAIT)
        return servable.run_now(feeds, fetches)

    servable.batched_run = held_run
    with grpc.insecure_channel(address.grpc) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert next(watch).status == SERVING
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        in_flight = stub.Predict.future(predict_request(), timeout=WAIT)
        assert entered.wait(WAIT)
        stopping = threading.Thread(target=server.stop, kwargs={"grace_seconds": WAIT})
        stopping.start()
        assert next(watch).status == NOT_SERVING  # readiness goes false first (a change) ...
        assert not in_flight.done()  # ... while the request is still running
        watch.cancel()
        release.set()
        response = in_flight.result()  # ... and it finishes with its answer
        stopping.join(WAIT)
    assert not stopping.is_alive()
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[3.0]]


@pytest.mark.slow
def test_sigterm_drains_and_exits_cleanly(server_process, half_plus_two):
    process, address = server_process(
        f"--model_base_path={half_plus_two}", "--enable_grpc_healthcheck_service"
    )
    assert check(address.grpc) == SERVING
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0
    lines = stderr.splitlines()
    drained = next(i for i, line in enumerate(lines) if "NOT_SERVING" in line)
    stopped = next(i for i, line in enumerate(lines) if "Server stopped" in line)
    assert drained < stopped
