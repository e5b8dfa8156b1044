"""Every `python -m serving.client` command README.md and docs/ show, run as pasted, live.

The commands are read from the bash blocks of README.md and every docs/*.md page (but the one
whose own test runs them), so a command added there is run here too. The files they name
(digit.png, batch.npy, request.json, the TLS files, tokens.txt) are made in the working folder;
`localhost:8500`/`8501` become the ports of a local server serving `digits_mlp` (versions 1 and
2, label `canary` on 2), or of one with TLS and tokens for commands using them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pki import make_pki, ssl_config

from tfmodel.config import Config
from tfmodel.export.saved_model import export_for_serving
from tfmodel.models import build_model

REPO = Path(__file__).resolve().parents[3]
MODEL = "digits_mlp"
MODELS_CONFIG = """model_config_list {{ config {{
  name: "{name}" base_path: "{base}" model_platform: "tensorflow"
  model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
  version_labels {{ key: "canary" value: 2 }}
}} }}
"""


# That page's commands serve a brought model: tests/serving/test_brought_docs.py runs them.
OWN_TEST = {"bring-your-own-model.md"}
DOCS = [
    REPO / "README.md",
    *sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in OWN_TEST),
]


def client_commands(pages: list[Path]) -> list[str]:
    """The pages' `python -m serving.client` commands, once each, joined lines, comments cut."""
    blocks = [
        block
        for page in pages
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.DOTALL)
    ]
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = [" ".join(line.split(" #")[0].split()) for line in lines]
    return list(dict.fromkeys(c for c in commands if c.startswith("python -m serving.client ")))


COMMANDS = client_commands(DOCS)


def test_the_docs_show_every_client_command():
    shown = {shlex.split(command)[3] for command in COMMANDS}
    assert shown >= {"status", "metadata", "predict", "classify"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder holding the export, its models.config and every file the commands name."""
    folder = tmp_path_factory.mktemp("docs")
    config = Config()
    config.export.model_name = MODEL
    config.model.hidden_units = [8]
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 17, size=(3, 8, 8, 1)).astype(np.float32)
    for _ in (1, 2):
        model = build_model(config.model, config.regularizer, (8, 8, 1), 10, 16.0)
        export_for_serving(model, config, batch, export_base=folder / "export")
    base = folder / "export" / MODEL
    (folder / "models.config").write_text(MODELS_CONFIG.format(name=MODEL, base=base))
    np.save(folder / "batch.npy", batch)
    Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8)).save(folder / "digit.png")
    (folder / "request.json").write_text(json.dumps({"instances": batch[:2].tolist()}))
    pki = make_pki(folder)  # ca.crt, client.crt, client.key among them
    ssl_config(folder / "ssl.config", pki.server_cert, pki.server_key, pki.ca, True)
    (folder / "tokens.txt").write_text("a-token-of-at-least-16-characters\n")
    return folder


@pytest.fixture
def servers(workdir, local_server):
    """A plain local server, and one with TLS (client certificates) and tokens."""
    config = workdir / "models.config"
    core = {"allow_version_labels_for_unavailable_models": True}
    plain = local_server(model_config_file=config, **core)
    secure = local_server(
        model_config_file=config,
        ssl_config_file=str(workdir / "ssl.config"),
        auth_token_file=str(workdir / "tokens.txt"),
        **core,
    )
    return plain, secure


def test_commands_are_read_from_every_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\npython -m serving.client status --server localhost:8500 \\\n  --model m  # why\n"
        "python -m serving.server --port 8500\n```\n"
        "```\npython -m serving.client predict --input not-bash.png\n```\n"
    )
    assert client_commands([page, page]) == [
        "python -m serving.client status --server localhost:8500 --model m"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", COMMANDS, ids=[f"{i}-{shlex.split(c)[3]}" for i, c in enumerate(COMMANDS)]
)
def test_the_docs_command_works_as_pasted(command, workdir, servers):
    plain, secure = servers
    # by the name the server's certificate holds
    secure_grpc = "localhost:" + secure.grpc.rsplit(":", 1)[1]
    grpc_address = secure_grpc if "--root-cert" in command else plain.grpc
    command = command.replace("localhost:8500", grpc_address)
    command = command.replace("localhost:8501", plain.rest)
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "serving.client"]
    answer = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    what = argv[3]
    out = answer.stdout
    if what == "status":
        assert "version 2: AVAILABLE" in out and "version 1: AVAILABLE" in out
    elif what == "metadata":
        assert "signature 'classify' (tensorflow/serving/classify)" in out
    elif what == "predict":
        assert "probabilities (float32, shape (" in out
    elif what == "classify":
        rows = out.splitlines()[1:]
        assert len(rows) == 3 and all(float(row.split()[-1]) > 0 for row in rows)
