"""Versions: policies, labels, hot reload by polling, config reloads, failed loads and warmup."""

import os
import re
import shutil
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from serving.errors import UsageError
from serving.server.core.warmup import MAX_RECORDS, read_warmup_requests
from serving.server.status import ServingError
from tfmodel.backend import tf

TIMEOUT = 10
State = get_model_status_pb2.ModelVersionStatus


def stubs(address: str):
    channel = grpc.insecure_channel(address)
    return (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def predict(stub, x=2.0, model="default", version=None, label=None):
    """(served version, y) for one Predict of x."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([x], tf.float32))
    response = stub.Predict(request, TIMEOUT)
    return response.model_spec.version.value, response.outputs["y"].float_val[0]


def statuses(model_stub, model="default"):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    response = model_stub.GetModelStatus(request, TIMEOUT)
    return {s.version: (s.state, s.status.error_message) for s in response.model_version_status}


def write_config(path, *models):
    """A ModelServerConfig text proto; each model is (name, base_path, extra text)."""
    entries = "".join(
        f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {extra} }}\n'
        for name, base, extra in models
    )
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path


@pytest.fixture
def two_versions(tmp_path, make_half_plus_two):
    base = tmp_path / "half"
    make_half_plus_two(base, 1, intercept=2.0)  # version 1: x=2 → 3
    make_half_plus_two(base, 2, intercept=3.0)  # version 2: x=2 → 4
    return base


def test_latest_policy_serves_only_the_highest_version(local_server, two_versions):
    prediction, models = stubs(local_server(model_base_path=two_versions).grpc)
    assert predict(prediction) == (2, 4.0)
    assert statuses(models) == {2: (State.AVAILABLE, "")}
    with pytest.raises(grpc.RpcError) as caught:
        predict(prediction, version=1)
    assert caught.value.details() == "Servable not found for request: Specific(default, 1)"


def test_all_policy_and_labels_pick_versions(local_server, two_versions, tmp_path):
    policy = "model_version_policy { all {} } "
    labels = 'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 }'
    config = write_config(tmp_path / "models.config", ("half", two_versions, policy + labels))
    address = local_server(
        model_config_file=config, allow_version_labels_for_unavailable_models=True
    )
    prediction, models = stubs(address.grpc)
    assert predict(prediction, model="half") == (2, 4.0)
    assert predict(prediction, model="half", version=1) == (1, 3.0)
    assert predict(prediction, model="half", label="stable") == (1, 3.0)
    assert predict(prediction, model="half", label="canary") == (2, 4.0)
    assert list(statuses(models, "half")) == [2, 1]  # newest first, as TF Serving lists them


def test_specific_policy_serves_only_the_listed_versions(local_server, two_versions, tmp_path):
    config = write_config(
        tmp_path / "models.config",
        ("half", two_versions, "model_version_policy { specific { versions: 1 } }"),
    )
    prediction, _ = stubs(local_server(model_config_file=config).grpc)
    assert predict(prediction, model="half") == (1, 3.0)


def test_labels_on_versions_not_loaded_fail_at_start_as_in_tf_serving(
    local_server, two_versions, tmp_path
):
    config = write_config(
        tmp_path / "models.config", ("half", two_versions, 'version_labels { key: "a" value: 2 }')
    )
    with pytest.raises(UsageError, match="Request to assign label to version 2 of model half"):
        local_server(model_config_file=config)


def test_new_version_swaps_in_while_requests_keep_succeeding(
    local_server, tmp_path, make_half_plus_two
):
    base = tmp_path / "half"
    make_half_plus_two(base, 1, intercept=2.0)
    prediction, models = stubs(local_server(model_base_path=base).grpc)
    answers, failures, stop = [], [], threading.Event()

    def client_loop():
        while not stop.is_set():
            try:
                answers.append(predict(prediction))
            except grpc.RpcError as error:
                failures.append(error)

    thread = threading.Thread(target=client_loop)
    thread.start()
    try:
        while len(answers) < 5:
            time.sleep(0.01)
        staging = tmp_path / "staging"
        make_half_plus_two(staging, 2, intercept=3.0)
        os.rename(staging / "2", base / "2")  # appears at once, as the export writes it
        deadline = time.monotonic() + 20 * 0.2  # a few poll periods (0.2 s) plus load time
        while time.monotonic() < deadline and (not answers or answers[-1][0] != 2):
            time.sleep(0.05)
        count = len(answers)
        while len(answers) < count + 5:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert set(answers) == {(1, 3.0), (2, 4.0)}
    first_new = answers.index((2, 4.0))
    assert set(answers[first_new:]) == {(2, 4.0)}  # never back to the old version
    assert statuses(models) == {2: (State.AVAILABLE, ""), 1: (State.END, "")}


def test_a_broken_new_version_leaves_the_old_one_serving(
    local_server, tmp_path, make_half_plus_two
):
    base = tmp_path / "half"
    make_half_plus_two(base, 1)
    prediction, models = stubs(local_server(model_base_path=base).grpc)
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    deadline = time.monotonic() + 5
    while 2 not in statuses(models) or statuses(models)[2][0] != State.END:
        assert time.monotonic() < deadline, statuses(models)
        time.sleep(0.05)
    assert statuses(models)[2][1] != ""  # the load error is reported
    assert predict(prediction) == (1, 3.0)


def test_config_file_polling_swaps_models(local_server, two_versions, half_plus_two, tmp_path):
    config = write_config(tmp_path / "models.config", ("first", half_plus_two, ""))
    address = local_server(model_config_file=config, model_config_file_poll_wait_seconds=0.2)
    prediction, _ = stubs(address.grpc)
    assert predict(prediction, model="first") == (123, 3.0)
    write_config(config, ("second", two_versions, ""))
    deadline = time.monotonic() + 10
    while True:
        try:
            assert predict(prediction, model="second") == (2, 4.0)
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with pytest.raises(grpc.RpcError) as caught:
        predict(prediction, model="first")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_handle_reload_config_request_adds_models(local_server, half_plus_two, two_versions):
    prediction, models = stubs(local_server(model_base_path=half_plus_two).grpc)
    request = model_management_pb2.ReloadConfigRequest()
    for name, base in [("default", half_plus_two), ("other", two_versions)]:
        entry = request.config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base), "tensorflow"
    models.HandleReloadConfigRequest(request, TIMEOUT)
    assert predict(prediction, model="other") == (2, 4.0)
    assert predict(prediction) == (123, 3.0)
    request.config.model_config_list.config[1].base_path = "relative/path"
    with pytest.raises(grpc.RpcError) as caught:
        models.HandleReloadConfigRequest(request, TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected model other to have an absolute path" in caught.value.details()


def test_a_model_that_cannot_load_stops_the_start(local_server, tmp_path):
    (tmp_path / "bad" / "1").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"1 model\(s\) did not become available"):
        local_server(model_base_path=tmp_path / "bad")


def test_tf_serving_bad_model_fails_to_load(local_server, tfserving_testdata):
    with pytest.raises(
        UsageError, match=r"did not become available: \{\{name: default version: 123"
    ):
        local_server(model_base_path=tfserving_testdata / "bad_half_plus_two")


def append_warmup(version_path, request: predict_pb2.PredictRequest, copies: int = 1):
    folder = version_path / "assets.extra"
    folder.mkdir(exist_ok=True)
    path = folder / "tf_serving_warmup_requests"
    old = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()) if path.exists() else []
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(request)
    with tf.io.TFRecordWriter(str(path)) as out:
        for record in old + [log.SerializeToString()] * copies:
            out.write(record)


def test_warmup_records_are_replayed_and_a_failing_one_fails_the_load(
    local_server, tmp_path, make_half_plus_two
):
    good = make_half_plus_two(tmp_path / "good", 1, warmup=[2.0, 3.0])
    assert predict(stubs(local_server(model_base_path=good.parent).grpc)[0]) == (1, 3.0)
    bad = make_half_plus_two(tmp_path / "bad", 1, warmup=[2.0])
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "nope"
    append_warmup(bad, request)
    with pytest.raises(UsageError, match='Serving signature key "nope" not found'):
        local_server(model_base_path=bad.parent)


def test_warmup_runs_each_record_once(local_server, tfserving_testdata, tmp_path):
    counter = tmp_path / "counter" / "1"
    shutil.copytree(tfserving_testdata / "saved_model_counter" / "00000123", counter)
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "incr_counter"
    append_warmup(counter, request, copies=3)
    prediction, _ = stubs(local_server(model_base_path=counter.parent).grpc)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "default", "get_counter"
    assert prediction.Predict(request, TIMEOUT).outputs["output"].float_val == [3.0]


def write_records(path, records) -> str:
    with tf.io.TFRecordWriter(str(path)) as out:
        for record in records:
            out.write(record if isinstance(record, bytes) else record.SerializeToString())
    return str(path)


def test_the_warmup_reading_rule_yields_each_request_with_its_method_and_checks_the_file(tmp_path):
    """One rule for the server's replay and the publish gate's infra validation (over gRPC)."""
    predict_log = prediction_log_pb2.PredictionLog()
    predict_log.predict_log.request.model_spec.signature_name = "serving_default"
    classify_log = prediction_log_pb2.PredictionLog()
    classify_log.classify_log.request.model_spec.signature_name = "classify"
    empty = prediction_log_pb2.PredictionLog()  # no log set: nothing to run, as in TF Serving
    path = write_records(tmp_path / "good", [predict_log, empty, classify_log])
    read = [(method, request) for method, request in read_warmup_requests(path)]
    assert read == [
        ("Predict", predict_log.predict_log.request),
        ("Classify", classify_log.classify_log.request),
    ]

    session_log = prediction_log_pb2.PredictionLog()
    session_log.session_run_log.SetInParent()
    for name, records, message in [
        (
            "unsupported",
            [predict_log, session_log],
            "Unsupported log_type for warmup: session_run_log",
        ),
        ("garbage", [b"\xff not a proto"], "Failed to parse warmup record"),
        ("too_many", [empty] * (MAX_RECORDS + 1), f"exceeds the maximum ({MAX_RECORDS})"),
    ]:
        with pytest.raises(ServingError, match=re.escape(message)) as raised:
            list(read_warmup_requests(write_records(tmp_path / name, records)))
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
