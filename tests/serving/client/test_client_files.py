"""The client CLI with bad input files, and images scaled to the range the model was trained on.

A bad file is one line naming it and its problem, exit status 2, no traceback (`--debug` raises).
The scaling reference: the model's own output on the pixels a 0..255 image stands for.
"""

import numpy as np
import pytest
from PIL import Image
from test_client import build_digits_model, softmax

from serving.client import cli as client_cli
from serving.client.client import ServingClient
from serving.client.errors import UsageError
from tfmodel.config import Config
from tfmodel.export.saved_model import export_for_serving


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    """Model `digits` (trained range 0..16) exported once; its Keras model for reference."""
    base = tmp_path_factory.mktemp("export")
    config = Config()
    config.export.model_name = "digits"
    model = build_digits_model(3)
    export_for_serving(model, config, np.zeros((1, 8, 8, 1), np.float32), export_base=base)
    return base / "digits", model


@pytest.mark.parametrize("rest", [False, True])
def test_the_export_records_its_input_range(digits_export, local_server, rest):
    server = local_server(model_base_path=digits_export[0])
    with ServingClient(server.rest if rest else server.grpc, "default", rest=rest) as client:
        assert client.input_range() == (0.0, 16.0)


def test_an_image_is_scaled_to_the_training_range(digits_export, local_server, tmp_path, capsys):
    base, model = digits_export
    server = local_server(model_base_path=base)
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 8), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    command = ["predict", "--server", server.grpc, "--model", "default"]
    command += ["--input", str(tmp_path / "digit.png"), "--output-filter", "probabilities"]
    assert client_cli.main(command) == 0
    printed = capsys.readouterr().out.split(":\n", 1)[1]
    sent = pixels.reshape(1, 8, 8, 1).astype(np.float32) * (16.0 / 255.0)
    expected = softmax(model.predict(sent, verbose=0))
    unscaled = softmax(model.predict(pixels.reshape(1, 8, 8, 1).astype(np.float32), verbose=0))
    got = np.array([float(v) for v in printed.replace("[", " ").replace("]", " ").split()])
    np.testing.assert_allclose(got, expected[0], atol=1e-4)
    assert not np.allclose(expected, unscaled, atol=1e-3)  # the scaling made a difference


def bad_files(folder):
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (folder / "truncated.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr'")
    np.save(folder / "wrong_shape.npy", np.zeros((2, 5), np.float32))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return {
        "corrupt.png": "not a readable image",
        "truncated.npy": "not a readable .npy array",
        "wrong_shape.npy": "holds an array shaped (2, 5); the input takes (N, 8, 8, 1)",
        "objects.npy": "not a readable .npy array",
    }


def test_bad_input_files_are_one_line_errors(digits_export, local_server, tmp_path, capsys):
    server = local_server(model_base_path=digits_export[0])
    for name, problem in bad_files(tmp_path).items():
        command = ["predict", "--server", server.grpc, "--model", "default"]
        command += ["--input", str(tmp_path / name)]
        assert client_cli.main(command) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(tmp_path / name) in err and problem in err, err
        with pytest.raises(UsageError):
            client_cli.main([*command, "--debug"])
