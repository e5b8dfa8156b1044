"""Client inputs: tf.Examples from features, and arrays/examples read from .npy, images and JSON."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from tensorflow.core.framework import tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.client.errors import UsageError
from serving.client.inputs import load_examples, load_predict_inputs, make_example, make_input


def make_signature(**inputs) -> meta_graph_pb2.SignatureDef:
    """A SignatureDef with inputs given as name=(dtype, shape)."""
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for name, (dtype, shape) in inputs.items():
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
        signature.inputs[name].dtype = dtype
        signature.inputs[name].tensor_shape.dim.extend(dims)
    return signature


PIXELS = make_signature(pixels=(types_pb2.DT_FLOAT, (-1, 8, 8, 1)))


def test_npy_is_cast_to_the_signature_dtype_and_files_stack(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 8, 8, 1)))
    np.save(tmp_path / "b.npy", np.zeros((1, 8, 8, 1)))
    specs = [str(tmp_path / "a.npy"), f"pixels={tmp_path / 'b.npy'}"]
    arrays = load_predict_inputs(specs, PIXELS)
    assert arrays["pixels"].dtype == np.float32
    assert arrays["pixels"].shape == (3, 8, 8, 1)
    assert arrays["pixels"][:, 0, 0, 0].tolist() == [1.0, 1.0, 0.0]


def test_images_are_fitted_to_the_input_height_width_and_channels(tmp_path):
    Image.new("RGB", (16, 16), (200, 200, 200)).save(tmp_path / "gray.png")
    Image.new("L", (8, 8), 7).save(tmp_path / "seven.png")
    arrays = load_predict_inputs([str(tmp_path / "gray.png"), str(tmp_path / "seven.png")], PIXELS)
    assert arrays["pixels"].shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(arrays["pixels"][0], np.full((8, 8, 1), 200.0))
    np.testing.assert_array_equal(arrays["pixels"][1], np.full((8, 8, 1), 7.0))


def test_images_go_as_their_bytes_to_a_string_input_turned_upright_when_exif_says(tmp_path):
    signature = make_signature(image_bytes=(types_pb2.DT_STRING, (-1,)))
    Image.new("RGB", (6, 4), (9, 99, 199)).save(tmp_path / "plain.jpg")
    rotated = Image.new("RGB", (6, 4), (0, 0, 0))
    rotated.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90° clockwise
    rotated.save(tmp_path / "rotated.png", exif=exif)
    arrays = load_predict_inputs(
        [str(tmp_path / "plain.jpg"), str(tmp_path / "rotated.png")], signature
    )
    sent = arrays["image_bytes"]
    assert sent.dtype == object and sent[0] == (tmp_path / "plain.jpg").read_bytes()
    upright = Image.open(io.BytesIO(sent[1]))
    assert upright.size == (4, 6) and upright.getpixel((3, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [[[1.5]], [[2.5]]]},
        {"instances": [{"x": [[1.5]]}, {"x": [[2.5]]}]},
        {"signature_name": "serving_default", "inputs": {"x": [[[1.5]], [[2.5]]]}},
        {"inputs": [[[1.5]], [[2.5]]]},
        [[[1.5]], [[2.5]]],
    ],
)
def test_json_in_every_tf_serving_layout(tmp_path, body):
    (tmp_path / "request.json").write_text(json.dumps(body))
    signature = make_signature(x=(types_pb2.DT_DOUBLE, (-1, 1, 1)))
    arrays = load_predict_inputs([str(tmp_path / "request.json")], signature)
    assert arrays["x"].dtype == np.float64
    np.testing.assert_array_equal(arrays["x"], [[[1.5]], [[2.5]]])


def test_json_bytes_in_b64(tmp_path):
    (tmp_path / "request.json").write_text(json.dumps({"instances": [{"b64": "aGk="}, "yo"]}))
    signature = make_signature(text=(types_pb2.DT_STRING, (-1,)))
    arrays = load_predict_inputs([str(tmp_path / "request.json")], signature)
    assert arrays["text"].tolist() == [b"hi", b"yo"]


def test_bad_inputs_are_user_errors(tmp_path):
    (tmp_path / "text.json").write_text(json.dumps({"instances": ["not a number"]}))
    with pytest.raises(UsageError, match="is not of expected type: float"):
        load_predict_inputs([str(tmp_path / "text.json")], PIXELS)
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1)))
    with pytest.raises(UsageError, match="no input 'image'"):
        load_predict_inputs([f"image={tmp_path / 'x.npy'}"], PIXELS)
    two = make_signature(a=(types_pb2.DT_FLOAT, (-1,)), b=(types_pb2.DT_FLOAT, (-1,)))
    with pytest.raises(UsageError, match="takes inputs \\['a', 'b'\\]: name each one"):
        load_predict_inputs([str(tmp_path / "x.npy")], two, "pair")
    with pytest.raises(UsageError, match="does not exist"):
        load_predict_inputs([str(tmp_path / "missing.npy")], PIXELS)
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(UsageError, match=".npy array, a .json file or an image"):
        load_predict_inputs([str(tmp_path / "x.csv")], PIXELS)


def test_examples_from_json_with_context_and_from_named_arrays(tmp_path):
    body = {"context": {"lang": "en"}, "examples": [{"x": 2.0}, {"x": 3.0, "tag": {"b64": "aGk="}}]}
    (tmp_path / "examples.json").write_text(json.dumps(body))
    np.save(tmp_path / "rows.npy", np.arange(8, dtype=np.float32).reshape(2, 2, 2))
    examples = load_examples([str(tmp_path / "examples.json"), f"pixels={tmp_path / 'rows.npy'}"])
    assert examples[:2] == [{"lang": "en", "x": 2.0}, {"lang": "en", "x": 3.0, "tag": b"hi"}]
    np.testing.assert_array_equal(examples[2]["pixels"], [0, 1, 2, 3])
    np.testing.assert_array_equal(examples[3]["pixels"], [4, 5, 6, 7])
    with pytest.raises(UsageError, match="name the tf.Example feature"):
        load_examples([str(tmp_path / "rows.npy")])


def test_make_example_picks_the_feature_list_from_the_values():
    example = make_example({"x": 2.0, "ids": np.array([1, 2]), "word": "hi", "raw": b"\x00"})
    feature = example.features.feature
    assert list(feature["x"].float_list.value) == [2.0]
    assert list(feature["ids"].int64_list.value) == [1, 2]
    assert list(feature["word"].bytes_list.value) == [b"hi"]
    assert list(feature["raw"].bytes_list.value) == [b"\x00"]
    assert len(make_input([{"x": 1.0}, {"x": 2.0}]).example_list.examples) == 2
    with pytest.raises(UsageError, match="no examples"):
        make_input([])
