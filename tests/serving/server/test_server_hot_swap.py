"""Hot swap under load: versions come, go and break, labels move, and no request is lost.

Two clients call without pause, one for the latest version and one through the `stable` label,
while the model folder changes under the server: a new version, a half-written one, one whose
variables are missing, a label moved, a version removed. The only failures allowed are requests
naming a bad version; a bad version ends with its load error and the good ones keep serving.
"""

import os
import shutil
import threading

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from test_server_freeze import wait_for

from tfmodel.backend import tf

State = get_model_status_pb2.ModelVersionStatus


def config_text(base, stable: int) -> str:
    return (
        f'model_config_list {{ config {{ name: "half" base_path: "{base}" '
        'model_platform: "tensorflow" model_version_policy { all {} } '
        f'version_labels {{ key: "stable" value: {stable} }} }} }}'
    )


class ClientLoop:
    """Predicts x=2 without pause through one ModelSpec; keeps every answer and failure."""

    def __init__(self, address: str, **spec):
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(address)
        )
        self.request = predict_pb2.PredictRequest()
        self.request.model_spec.name = "half"
        if "label" in spec:
            self.request.model_spec.version_label = spec["label"]
        self.request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], tf.float32))
        self.answers: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.stub.Predict(self.request, 10)
                self.answers.append(response.model_spec.version.value)
            except grpc.RpcError as error:
                self.failures.append(f"{error.code().name}: {error.details()}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_versions_added_removed_corrupted_and_labels_moved_lose_no_request(
    local_server, tmp_path, make_half_plus_two
):
    base, staging = tmp_path / "half", tmp_path / "staging"
    make_half_plus_two(base, 1, intercept=2.0)
    config = tmp_path / "models.config"
    config.write_text(config_text(base, stable=1))
    address = local_server(
        model_config_file=config,
        model_config_file_poll_wait_seconds=0.1,
        max_num_load_retries=1,
        allow_version_labels_for_unavailable_models=True,  # `stable` is set before 1 loads
    ).grpc
    models = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(address))

    def states() -> dict[int, tuple[int, str]]:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "half"
        response = models.GetModelStatus(request, 10)
        return {s.version: (s.state, s.status.error_message) for s in response.model_version_status}

    def ended_with_error(version: int) -> bool:
        state = states().get(version)
        return state is not None and state[0] == State.END and state[1] != ""

    latest, stable = ClientLoop(address), ClientLoop(address, label="stable")
    try:
        make_half_plus_two(staging, 2, intercept=3.0)
        os.rename(staging / "2", base / "2")  # a new version, appearing whole
        wait_for(lambda: latest.answers[-1:] == [2], "version 2 to serve")

        (base / "3").mkdir()  # a half-written version: the SavedModel is not there yet
        (base / "3" / "saved_model.pb").write_bytes(b"\x08\x01partial")
        make_half_plus_two(staging, 4, intercept=5.0)
        shutil.rmtree(staging / "4" / "variables")  # a SavedModel without its variables
        os.rename(staging / "4", base / "4")
        wait_for(lambda: ended_with_error(3) and ended_with_error(4), "3 and 4 to fail")

        config.write_text(config_text(base, stable=2))  # move the label
        wait_for(lambda: stable.answers[-1:] == [2], "the label to move to 2")
        shutil.rmtree(base / "1")  # remove the version nothing points at any more
        wait_for(lambda: states()[1][0] == State.END, "version 1 to unload")
        count = len(latest.answers), len(stable.answers)
        wait_for(lambda: len(latest.answers) > count[0] + 5, "more answers")
        wait_for(lambda: len(stable.answers) > count[1] + 5, "more answers")
    finally:
        latest.stop()
        stable.stop()
    assert latest.failures == [] and stable.failures == []
    assert set(latest.answers) == {1, 2} and set(stable.answers) == {1, 2}
    assert latest.answers[latest.answers.index(2) :] == [2] * (
        len(latest.answers) - latest.answers.index(2)
    )
    final = states()
    assert final[2] == (State.AVAILABLE, "") and final[1] == (State.END, "")
    assert final[3][0] == final[4][0] == State.END
    assert "variables" in final[4][1].lower() or "not found" in final[4][1].lower()
