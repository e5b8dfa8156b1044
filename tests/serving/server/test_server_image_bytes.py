"""`serving_bytes` served: encoded images in over REST (b64) and gRPC, the same answer as pixels
decoded by the training recipe; a tampered or oversized image is a 400 and the server goes on."""

import base64
import io
import json
import struct
import zlib

import grpc
import numpy as np
import pytest
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfmodel.backend import keras, tf
from tfmodel.config import Config
from tfmodel.data.decode import decode_image
from tfmodel.data.splits import image_recipe
from tfmodel.export import saved_model as export

SIZE = 12


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, kind, **options)
    return stream.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(config, export base) of a tiny 3-class image model trained on nothing."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(pixels)
    x = keras.layers.Conv2D(2, 3)(x)
    logits = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    config = Config()
    config.data.source = "images:/nowhere"
    config.data.image_size = [SIZE, SIZE]
    config.data.resize = "crop"
    config.export.model_name = "photos"
    base = tmp_path_factory.mktemp("export")
    export.export_for_serving(
        keras.Model(pixels, logits),
        config,
        np.zeros((1, SIZE, SIZE, 3)),
        export_base=base,
        class_names=["a", "b", "c"],
    )
    return config, base


def photos() -> list[bytes]:
    rng = np.random.default_rng(1)
    tall = Image.fromarray(rng.integers(0, 255, (30, 17, 3), dtype=np.uint8))
    wide = Image.fromarray(rng.integers(0, 255, (9, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone's portrait JPEG: stored turned, shown rotated 90° clockwise
    turned = encoded(wide, "JPEG", exif=exif.tobytes())
    return [encoded(tall, "JPEG"), encoded(wide.convert("L"), "PNG"), turned]


def orientation(data: bytes) -> int:
    """The EXIF orientation as Pillow reads it (1 without a tag)."""
    return Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)


def huge_png() -> bytes:
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def test_bytes_answer_as_the_recipe_decoded_pixels_over_rest_and_grpc(served, local_server, http):
    config, base = served
    address = local_server(model_config_file=base / export.MODELS_CONFIG_FILE)
    recipe = image_recipe(config.data)
    decoded = [decode_image(tf.constant(d), tf.constant(orientation(d)), recipe) for d in photos()]
    pixels = np.stack([image.numpy() for image in decoded])
    status, text = http(address.rest, "/v1/models/photos:predict", {"instances": pixels.tolist()})
    assert status == 200, text
    expected = np.array([row["probabilities"] for row in json.loads(text)["predictions"]])

    body = {
        "signature_name": export.BYTES_SIGNATURE,
        "instances": [{"b64": base64.b64encode(d).decode()} for d in photos()],
    }
    status, text = http(address.rest, "/v1/models/photos:predict", body)
    assert status == 200, text
    over_rest = np.array([row["probabilities"] for row in json.loads(text)["predictions"]])
    np.testing.assert_allclose(over_rest, expected, atol=1e-6)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "photos"
    request.model_spec.signature_name = export.BYTES_SIGNATURE
    request.inputs[export.BYTES_INPUT].CopyFrom(tf.make_tensor_proto(photos()))
    with grpc.insecure_channel(address.grpc) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30)
    over_grpc = tf.make_ndarray(answer.outputs["probabilities"])
    np.testing.assert_allclose(over_grpc, expected, atol=1e-6)


@pytest.mark.parametrize("data", [huge_png(), b"\xff\xd8\xff\xe0 tampered", b"GIF89a"])
def test_a_bad_or_huge_image_is_a_400_and_the_server_keeps_answering(
    served, local_server, http, data
):
    _, base = served
    address = local_server(model_config_file=base / export.MODELS_CONFIG_FILE)
    body = {
        "signature_name": export.BYTES_SIGNATURE,
        "instances": [{"b64": base64.b64encode(data).decode()}],
    }
    status, text = http(address.rest, "/v1/models/photos:predict", body)
    assert status == 400 and "error" in json.loads(text)
    good = {
        "signature_name": export.BYTES_SIGNATURE,
        "instances": [{"b64": base64.b64encode(photos()[0]).decode()}],
    }
    assert http(address.rest, "/v1/models/photos:predict", good)[0] == 200
