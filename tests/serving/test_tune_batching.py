"""`python -m serving.tune_batching`: a measured BatchingParameters file, read by both servers."""

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import tune_batching
from serving.server.servables.batching import read_batching_parameters
from tfmodel.backend import tf


def write_tiny_export(base_path) -> str:
    """A TF2 SavedModel, version 1: y = x @ w for x of shape [batch, 8]."""
    module = tf.Module()
    module.w = tf.Variable(tf.ones([8, 2]))
    module.serve = tf.function(
        lambda x: {"y": tf.matmul(x, module.w)},
        input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")],
    )
    path = f"{base_path}/1"
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    return write_tiny_export(tmp_path_factory.mktemp("tiny"))


def test_the_written_file_is_tf_servings_recipe_over_the_measured_table(
    tiny_export, tmp_path, capsys
):
    output = tmp_path / "batching_parameters.txt"
    argv = [
        tiny_export,
        "--batch_sizes=1,4,16",
        "--seconds=0.05",
        "--cores=2",
        f"--output={output}",
    ]
    assert tune_batching.main(argv) == 0
    params = read_batching_parameters(str(output))  # TF Serving's BatchingParameters fields
    rows = [line.split() for line in output.read_text().splitlines() if line[:3] == "#  "]
    rates = {int(row[1]): float(row[3]) for row in rows}
    assert sorted(rates) == [1, 4, 16]
    assert rates[params.max_batch_size] >= 0.9 * max(rates.values())  # the knee
    smaller = [size for size in rates if size < params.max_batch_size]
    assert all(rates[size] < 0.9 * max(rates.values()) for size in smaller)
    assert params.allowed_batch_sizes[-1] == params.max_batch_size  # TF Serving requires it
    assert params.num_batch_threads == params.max_enqueued_batches == 2
    assert 0 < params.batch_timeout_micros <= tune_batching.MAX_TIMEOUT_MICROS
    assert "examples/s" in capsys.readouterr().out


@pytest.mark.slow
def test_the_local_server_loads_it_with_batching_on(tiny_export, tmp_path, server_process):
    output = tmp_path / "batching_parameters.txt"
    argv = [tiny_export, "--batch_sizes=1,2", "--seconds=0.02", f"--output={output}"]
    assert tune_batching.main(argv) == 0
    base_path = tiny_export.rsplit("/", 1)[0]
    _, address = server_process(
        f"--model_base_path={base_path}",
        "--enable_batching",
        f"--batching_parameters_file={output}",
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0] * 8], tf.float32))
    with grpc.insecure_channel(address.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[8.0, 8.0]]


def test_a_string_input_is_a_user_error(tmp_path, capsys):
    module = tf.Module()
    module.serve = tf.function(
        lambda s: {"n": tf.strings.length(s)}, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    assert tune_batching.main([str(tmp_path / "1"), "--output", str(tmp_path / "b.txt")]) == 2
    assert "--signature" in capsys.readouterr().err
