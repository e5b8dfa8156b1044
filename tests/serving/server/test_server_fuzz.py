"""Fuzzing the server: thousands of hostile gRPC and REST requests, each answered with a status.

Pass: no INTERNAL or UNKNOWN status, no HTTP 5xx, no call left unanswered (each has a deadline),
the server's memory after the run within 10% of before, and a valid request still answered. The
server is a subprocess serving half_plus_two, so its memory is its own (read from /proc).
"""

import collections
import http.client
import urllib.parse

import grpc
import pytest
from fuzz_requests import MODEL, grpc_calls, rest_bodies, rest_paths, rest_verbs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tensorflow_serving.apis import (
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from test_server_shutdown import ServerLog

from tfmodel.backend import tf

GRPC_REQUESTS = 5000
REST_REQUESTS = 2000
BATCH = 10  # requests drawn per example: hypothesis's own cost is per example
DEADLINE_SECONDS = 10
FUZZ = settings(
    deadline=None,
    database=None,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # ~40 s each on 2 idle cores


@pytest.fixture(scope="module")
def fuzzed(module_server_process, half_plus_two):
    process, address = module_server_process(
        f"--model_base_path={half_plus_two}", f"--model_name={MODEL}", "--rest_api_num_threads=4"
    )
    ServerLog(process)  # keeps reading its stderr: a full pipe would block the server
    channel = grpc.insecure_channel(address.grpc)
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for _ in range(50):  # warm up: RSS is measured against a server that has served
        assert valid_predict(prediction) == [3.0]
    yield process, address, channel, prediction
    channel.close()


def valid_predict(prediction) -> list[float]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[2.0]], tf.float32))
    return list(prediction.Predict(request, DEADLINE_SECONDS).outputs["y"].float_val)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def check_survived(process, prediction, rss_before: int) -> None:
    assert process.poll() is None, "the server died"
    assert valid_predict(prediction) == [3.0]
    rss_after = rss_bytes(process.pid)
    assert rss_after <= rss_before * 1.10, f"RSS grew from {rss_before} to {rss_after}"


def rest_call(connection: list, verb: str, path: str, body: bytes) -> int:
    """Sends one request on the kept-alive `connection[0]` (reopened after a close); its status."""
    try:
        connection[0].request(verb, urllib.parse.quote(path, safe="/:%"), body=body)
        response = connection[0].getresponse()
        response.read()
    except TimeoutError:
        raise AssertionError(f"{verb} {path} hung") from None
    except (http.client.HTTPException, OSError) as error:
        connection[0].close()
        raise AssertionError(f"{verb} {path} {body[:200]!r}: {error!r}") from None
    if response.getheader("Connection", "").lower() == "close":
        connection[0].close()  # http.client reconnects on the next request
    return response.status


def test_grpc_fuzz(fuzzed, half_plus_two):
    process, _, channel, prediction = fuzzed
    stubs = {
        "HandleReloadConfigRequest": model_service_pb2_grpc.ModelServiceStub(channel),
        "GetModelStatus": model_service_pb2_grpc.ModelServiceStub(channel),
    }
    rss_before = rss_bytes(process.pid)
    outcomes = collections.Counter()

    @settings(FUZZ, max_examples=GRPC_REQUESTS // BATCH)
    @given(calls=st.lists(grpc_calls(str(half_plus_two)), min_size=BATCH, max_size=BATCH))
    def some_calls(calls):
        for method, request in calls:
            stub = stubs.get(method, prediction)
            try:
                getattr(stub, method)(request, DEADLINE_SECONDS)
                code, details = grpc.StatusCode.OK, ""
            except grpc.RpcError as error:
                code, details = error.code(), error.details()
            outcomes[code.name] += 1
            bad = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
            assert code not in bad, f"{method} {request} → {code.name}: {details}"
            assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{method} {request} hung"

    some_calls()
    print(f"gRPC fuzz: {sum(outcomes.values())} requests, {dict(outcomes)}")
    assert sum(outcomes.values()) >= GRPC_REQUESTS
    assert outcomes["OK"] > 0, "no request reached the model: the fuzz only tests the door"
    check_survived(process, prediction, rss_before)


def test_rest_fuzz(fuzzed):
    process, address, _, prediction = fuzzed
    host, port = address.rest.split(":")
    rss_before = rss_bytes(process.pid)
    outcomes = collections.Counter()
    connection = [http.client.HTTPConnection(host, int(port), timeout=DEADLINE_SECONDS)]

    @settings(FUZZ, max_examples=REST_REQUESTS // BATCH)
    @given(
        calls=st.lists(
            st.tuples(rest_verbs, rest_paths, rest_bodies), min_size=BATCH, max_size=BATCH
        )
    )
    def some_calls(calls):
        for verb, path, body in calls:
            status = rest_call(connection, verb, path, body)
            outcomes[status] += 1
            assert status < 500, f"{verb} {path} {body[:200]!r} → {status}"

    some_calls()
    connection[0].close()
    print(f"REST fuzz: {sum(outcomes.values())} requests, {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) >= REST_REQUESTS
    assert outcomes[200] > 0, "no request reached the model: the fuzz only tests the door"
    check_survived(process, prediction, rss_before)
