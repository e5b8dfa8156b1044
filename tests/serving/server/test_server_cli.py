"""`python -m serving.server` as users run it: flags, startup errors, SIGTERM."""

import json
import signal
import urllib.request

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import UsageError
from serving.server.main import main
from serving.server.model_server import ModelServer, ServerOptions
from tfmodel.backend import tf


@pytest.mark.slow
def test_serves_grpc_and_rest_then_stops_cleanly_on_sigterm(server_process, half_plus_two):
    process, address = server_process(f"--model_base_path={half_plus_two}", "--model_name=half")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], tf.float32))
    with grpc.insecure_channel(address.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(request, timeout=10).outputs["y"].float_val == [3.0]
    body = json.dumps({"instances": [2.0]}).encode()
    url = f"http://{address.rest}/v1/models/half:predict"
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as answer:
        assert json.load(answer) == {"predictions": [3.0]}
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Stopping the model server" in stderr and "Traceback" not in stderr


def test_help_lists_tf_serving_flags_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--port", "--rest_api_port", "--model_config_file", "--enable_batching"]:
        assert flag in text
    assert "examples:" in text


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--model_config_file={config}"], "Error parsing text-format tensorflow.serving.Model"),
        (["--model_base_path=relative/path"], "Expected model default to have an absolute path"),
        ([], "Both --model_base_path and --model_config_file are empty"),
        (["--model_base_path=/m", "--batching_parameters_file=b"], "without --enable_batching"),
    ],
)
def test_startup_errors_name_the_input_and_exit_2(capsys, tmp_path, flags, message):
    config = tmp_path / "models.config"
    config.write_text("improperly formatted file")  # TF Serving's bad_model_config.txt
    assert main([flag.format(config=config) for flag in flags]) == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_an_error_not_shared(local_server, half_plus_two):
    port = int(local_server(model_base_path=half_plus_two).grpc.rsplit(":", 1)[1])
    options = ServerOptions(port=port, model_base_path=str(half_plus_two))
    with pytest.raises(UsageError, match=f"--port {port}: cannot listen"):
        ModelServer(options).start()
