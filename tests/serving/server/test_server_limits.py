"""Resource limits: each refused with a status naming its flag, before the server allocates.

One server subprocess with small limits; its peak memory (VmHWM) shows what a refusal cost.
"""

import base64
import http.client
import json
import socket

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import UsageError
from serving.server.frontend.limits import json_depth
from serving.server.main import build_parser, options_from_args
from tfmodel.backend import tf

MAX_ELEMENTS = 2**24  # 64 MiB of float32
FLAGS = [
    f"--max_request_elements={MAX_ELEMENTS}",
    "--rest_api_max_body_bytes=100000",
    "--rest_api_max_json_depth=10",
    "--rest_api_timeout_in_ms=300",
    "--rest_api_num_threads=2",
    "--grpc_channel_arguments=grpc.max_receive_message_length=1000000",
]


@pytest.fixture(scope="module")
def limited(module_server_process, half_plus_two):
    process, address = module_server_process(f"--model_base_path={half_plus_two}", *FLAGS)
    channel = grpc.insecure_channel(address.grpc)
    yield process, address, prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def predict(stub, tensor) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tensor)
    return stub.Predict(request, timeout=30)


def status_of(stub, tensor) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        predict(stub, tensor)
    return caught.value.code(), caught.value.details()


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def test_an_unknown_dtype_enum_is_invalid_argument(limited):
    tensor = tf.make_tensor_proto([1.0], tf.float32)
    tensor.dtype = 1234  # no DataType has this number
    assert status_of(limited[2], tensor) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    )
    assert list(predict(limited[2], tf.make_tensor_proto([2.0])).outputs["y"].float_val) == [3.0]


@pytest.mark.parametrize("shape", [[MAX_ELEMENTS + 1], [2**31, 2**31], [2**60, 4]])
def test_a_tiny_request_declaring_a_huge_shape_is_refused_without_allocating(limited, shape):
    process, _, stub = limited
    tensor = tf.make_tensor_proto([1.0], tf.float32)  # one value, filled in to the shape
    del tensor.tensor_shape.dim[:]
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    before = peak_rss(process.pid)
    code, message = status_of(stub, tensor)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max_request_elements" in message
    assert peak_rss(process.pid) - before < 16 * 2**20  # filled in, it would be ≥ 64 MiB


def test_a_shape_of_more_than_2_63_elements_is_a_tensor_parsing_error(limited):
    tensor = tf.make_tensor_proto([1.0], tf.float32)
    tensor.tensor_shape.dim[0].size = 2**62
    tensor.tensor_shape.dim.add(size=4)  # TensorShape::IsValid fails: TF Serving's answer
    assert status_of(limited[2], tensor) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    )


def test_string_bytes_count_towards_the_limit(limited):
    tensor = tf.make_tensor_proto([b"x" * 1000], tf.string)
    tensor.tensor_shape.dim[0].size = MAX_ELEMENTS // 1000 + 1  # 16 MiB of strings, filled in
    assert status_of(limited[2], tensor)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_request_just_within_the_limit_is_served(limited):
    tensor = tf.make_tensor_proto([1.0], tf.float32)
    tensor.tensor_shape.dim[0].size = 1000
    assert list(predict(limited[2], tensor).outputs["y"].float_val) == [2.5] * 1000


def test_a_grpc_message_over_the_receive_limit_is_resource_exhausted(limited):
    tensor = tf.make_tensor_proto([0.0] * 300_000, tf.float32)  # 1.2 MB
    code, message = status_of(limited[2], tensor)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in message


def rest(address, method: str, path: str, body: bytes = b"", headers=None):
    host, port = address.rest.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


def test_a_rest_body_over_the_limit_is_413_before_it_is_read(limited):
    headers = {"Content-Length": "5000000"}
    status, text = rest(limited[1], "POST", "/v1/models/default:predict", b"{}", headers)
    assert status == 413 and "--rest_api_max_body_bytes" in text


def test_json_nested_past_the_limit_is_400_before_it_is_parsed(limited):
    deep = b'{"instances": ' + b"[" * 10 + b"1.0" + b"]" * 10 + b"}"
    status, text = rest(limited[1], "POST", "/v1/models/default:predict", deep)
    assert status == 400 and "--rest_api_max_json_depth" in text
    status, text = rest(limited[1], "POST", "/v1/models/default:predict", b'{"instances": [[1.0]]}')
    assert status == 200 and "2.5" in text


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[{{{", "b": [[1]]}') == 3
    assert json_depth(b'["\\"[[[", [2]]') == 2
    assert json_depth(b"1.0") == 0


def test_a_body_not_sent_in_time_is_408_and_frees_its_thread(limited):
    host, port = limited[1].rest.split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(2)]  # both threads busy
    idle[0].sendall(b"POST /v1/models/default:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    assert idle[0].recv(4096).startswith(b"HTTP/1.1 408")  # answered once the timeout passed
    status, text = rest(limited[1], "GET", "/v1/models/default")  # a third client still answered
    assert status == 200 and "AVAILABLE" in text
    for connection in idle:
        connection.close()


@pytest.mark.parametrize(
    "flag",
    ["--max_request_elements=0", "--rest_api_timeout_in_ms=-1", "--grpc_channel_arguments=x"],
)
def test_bad_limit_flags_are_user_errors(flag):
    args = build_parser().parse_args(["--model_base_path=/abs/models", flag])
    with pytest.raises(UsageError, match=flag.split("=")[0]):
        options_from_args(args)


def classify_input(stub, tensor) -> predict_pb2.PredictResponse:
    """Predict on half_plus_two's `classify_x_to_y`, whose input is a DT_STRING of tf.Examples."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "classify_x_to_y"
    request.inputs["inputs"].CopyFrom(tensor)
    return stub.Predict(request, timeout=30)


def string_content(shape, content: bytes):
    tensor = tf.make_tensor_proto([b""], tf.string)
    del tensor.tensor_shape.dim[:], tensor.string_val[:]
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_content = content
    return tensor


def serialized_example(x: float) -> bytes:
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=[x]))
    return tf.train.Example(features=tf.train.Features(feature={"x": feature})).SerializeToString()


@pytest.mark.parametrize(
    "shape, values, expected",
    [
        # TF Serving: Tensor::FromProto refuses both ("tensor parsing error"), allocating nothing
        ([2**40, 2**40, 1], {"tensor_content": b"\x00" * 300}, grpc.StatusCode.INVALID_ARGUMENT),
        ([1, 2**40], {"tensor_content": b"\x00" * 300}, grpc.StatusCode.INVALID_ARGUMENT),
        ([1, 2**40], {}, grpc.StatusCode.RESOURCE_EXHAUSTED),  # 2^40 empty strings: over the limit
        ([1, 2**40], {"string_val": [b""]}, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_a_string_tensor_declaring_a_huge_shape_is_refused_without_allocating(
    limited, shape, values, expected
):
    process, _, stub = limited
    tensor = string_content(shape, values.get("tensor_content", b""))
    tensor.string_val.extend(values.get("string_val", []))
    before = peak_rss(process.pid)
    with pytest.raises(grpc.RpcError) as caught:
        classify_input(stub, tensor)
    assert caught.value.code() == expected, caught.value.details()
    if expected == grpc.StatusCode.INVALID_ARGUMENT:
        assert caught.value.details() == "tensor parsing error: inputs"
    else:
        assert "--max_request_elements" in caught.value.details()
    assert peak_rss(process.pid) - before < 16 * 2**20
    assert list(predict(stub, tf.make_tensor_proto([2.0])).outputs["y"].float_val) == [3.0]


def test_string_tensor_content_is_served_as_tensorflow_encodes_it(limited):
    examples = [serialized_example(4.0), serialized_example(6.0)]
    lengths = bytes(len(example) for example in examples)  # each under 128: a one-byte varint
    tensor = string_content([2], lengths + b"".join(examples))
    assert tf.make_ndarray(classify_input(limited[2], tensor).outputs["scores"]).tolist() == [
        [4.0],
        [5.0],
    ]


def test_a_string_input_over_rest_is_served_and_garbage_is_400(limited):
    path = "/v1/models/default:predict"
    body = {"signature_name": "classify_x_to_y", "inputs": {"inputs": []}}
    body["inputs"]["inputs"] = [{"b64": base64.b64encode(serialized_example(4.0)).decode()}]
    status, text = rest(limited[1], "POST", path, json.dumps(body).encode())
    assert status == 200 and json.loads(text)["outputs"] == [[4.0]]
    body["inputs"]["inputs"] = [{"b64": base64.b64encode(b"\xff" * 300).decode()}]
    status, text = rest(limited[1], "POST", path, json.dumps(body).encode())
    assert status == 400 and "Could not parse example input" in text, text
