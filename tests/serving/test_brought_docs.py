"""Every command docs/bring-your-own-model.md shows, run as pasted (in-process, in order).

The commands are read from the page's bash blocks. The files they name are made in the working
folder: `model.keras` (a tiny Keras 3 classifier), `exported_model/` (its `model.export()`),
`photos/` (generated photos of two classes), `labels.txt`, `photo.jpg`, `model-signing.key`;
`/srv/models` becomes a folder of the test. The server command becomes a local server on free
ports, which the client command then calls.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from photos import make_photo, write_photo_folder

from edge import optimize
from edge.device.signature import verify_folder
from serving.client import cli as client_cli
from serving.publish import cli as publish_cli
from tfmodel import sign
from tfmodel.export import cli as export_cli
from tfmodel.keras3 import keras

PAGE = Path(__file__).resolve().parents[2] / "docs" / "bring-your-own-model.md"
MAINS = {
    "edge.optimize": optimize.main,
    "tfmodel.export": export_cli.main,
    "serving.publish": publish_cli.main,
    "serving.client": client_cli.main,
}


def page_commands() -> list[list[str]]:
    """The page's `python -m` lines (continuations joined, comments cut), split into words."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line.split(" #")[0]) for line in lines if line.startswith("python -m ")]


def make_user_files(folder: Path) -> None:
    """The files the commands name, as a user would have them."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.save(folder / "model.keras")
    model.export(str(folder / "exported_model"), verbose=False)
    write_photo_folder(folder / "photos", per_class=5)
    (folder / "labels.txt").write_text("bright\ndark\n")
    make_photo(np.random.default_rng(0), "bright").save(folder / "photo.jpg")
    sign.generate_key_pair(folder / "model-signing.key", folder / "model-signing.pub")


@pytest.mark.slow
def test_every_command_on_the_page_runs_as_pasted(tmp_path, monkeypatch, local_server):
    monkeypatch.chdir(tmp_path)
    make_user_files(tmp_path)
    models = tmp_path / "srv_models"
    commands = page_commands()
    assert {words[2] for words in commands} == {*MAINS, "serving.server"}
    address = None
    for words in commands:
        argv = [word.replace("/srv/models", str(models)) for word in words[3:]]
        if words[2] == "serving.server":
            address = local_server(model_config_file=argv[argv.index("--model_config_file") + 1])
            continue
        argv = [word.replace("localhost:8500", address.grpc) if address else word for word in argv]
        assert MAINS[words[2]](argv) == 0, shlex.join(words)
    assert sorted(p.name for p in (models / "flowers").iterdir()) == ["1", "2", "3"]
    sign.verify_model(models / "model" / "3", tmp_path / "model-signing.pub")
    verify_folder(tmp_path / "exported_model-edge", tmp_path / "model-signing.pub")
    assert (tmp_path / "model-edge" / "model_pruned_int8.tflite").is_file()
