"""Server-side batching: concurrent runs merged along dimension 0, padded, split back."""

import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import UsageError
from serving.server.servables.batching import Batcher, BatchingParameters, read_batching_parameters
from serving.server.status import ServingError
from tfmodel.backend import tf


class RecordingRun:
    """Stands in for Servable.run_now: y = 10·x, remembering the batch sizes it was given."""

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, feeds, fetches):
        self.batch_sizes.append(len(feeds["x:0"]))
        return [feeds["x:0"] * 10 for _ in fetches]


def run_concurrently(batcher, inputs):
    barrier = threading.Barrier(len(inputs))

    def one(x):
        barrier.wait()
        return batcher.run({"x:0": x}, ["y:0"])[0]

    with futures.ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(one, inputs))


def test_concurrent_runs_share_one_batch_and_get_their_own_rows():
    run = RecordingRun()
    params = BatchingParameters(
        max_batch_size=4, batch_timeout_micros=5_000_000, num_batch_threads=1
    )
    batcher = Batcher(params, run)
    try:
        inputs = [np.array([[i], [i + 0.5]], np.float32) for i in range(2)]  # 2 rows each
        outputs = run_concurrently(batcher, inputs)
    finally:
        batcher.close()
    assert run.batch_sizes == [4]  # full batch: sent at once, well before the 5 s timeout
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(y, x * 10)


def test_batches_are_padded_to_an_allowed_size():
    run = RecordingRun()
    params = BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)
    batcher = Batcher(params, run)
    try:
        y = batcher.run({"x:0": np.array([1.0, 2.0, 3.0], np.float32)}, ["y:0"])[0]
    finally:
        batcher.close()
    assert run.batch_sizes == [4]
    np.testing.assert_array_equal(y, [10.0, 20.0, 30.0])


def test_oversized_and_mismatched_runs_fail_as_in_tf_serving():
    batcher = Batcher(BatchingParameters(max_batch_size=2, num_batch_threads=1), RecordingRun())
    try:
        with pytest.raises(
            ServingError, match="Task size 3 is larger than maximum input batch size"
        ):
            batcher.run({"x:0": np.zeros(3, np.float32)}, ["y:0"])
        with pytest.raises(ServingError, match="must have at least one dimension"):
            batcher.run({"x:0": np.float32(1.0)}, ["y:0"])
    finally:
        batcher.close()


def test_reads_tf_serving_batching_parameters(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n"
        "allowed_batch_sizes: 64 allowed_batch_sizes: 128\n"
    )  # TF Serving's testdata/batching_config.txt, plus allowed sizes
    assert read_batching_parameters(str(path)) == BatchingParameters(
        max_batch_size=128,
        batch_timeout_micros=0,
        max_enqueued_batches=1000000,
        num_batch_threads=8,
        allowed_batch_sizes=(64, 128),
    )
    path.write_text("max_batch_size: 3")
    with pytest.raises(UsageError, match="batching.config"):
        read_batching_parameters(str(path))


def test_server_with_batching_answers_every_concurrent_request(local_server, half_plus_two):
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=20_000, num_batch_threads=2)
    address = local_server(model_base_path=half_plus_two, batching=params)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address.grpc))

    def predict(x):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "default"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto([[x], [x + 1]], tf.float32))
        return list(stub.Predict(request, timeout=10).outputs["y"].float_val)

    with futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(predict, [float(x) for x in range(12)]))
    assert answers == [[0.5 * x + 2, 0.5 * (x + 1) + 2] for x in range(12)]
