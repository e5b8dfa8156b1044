"""Signed folders: `tfmodel.sign` (OpenSSF model-signing) and the device's `edge.device.signature`
(`cryptography` alone) must accept the same folders and refuse the same attacks, naming the file.

Needs model-signing, so it is not one of the device tests; the runtime's own check of a signed
folder runs without TensorFlow here, as on a device.
"""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
from test_edge_runtime import run_without_tensorflow

from edge.device.errors import EdgeError
from edge.device.names import SIGNATURE_FILE
from edge.device.runtime import EdgeModel, sha256_of
from edge.device.signature import verify_folder
from tfmodel import sign
from tfmodel.errors import UserError


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for stem in ("good", "other"):
        sign.generate_key_pair(folder / f"{stem}.key", folder / f"{stem}.pub")
    return folder


def _flip(path):
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def _edit_statement(folder, change):
    """Rewrites the signed statement inside model.sig without signing it again."""
    path = folder / SIGNATURE_FILE
    bundle = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    change(statement)
    payload = json.dumps(statement).encode()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    path.write_text(json.dumps(bundle))


def _drop_resource(statement):
    statement["predicate"]["resources"].pop()


def _forge_digest(statement):
    statement["predicate"]["resources"][0]["digest"] = "00" * 32


# attack → (what it does to a signed folder, the words both verifiers' refusals must hold)
ATTACKS = {
    "flipped byte": (lambda f, k: _flip(f / "variables" / "variables.data"), "variables.data"),
    "added file": (lambda f, k: (f / "extra.bin").write_bytes(b"\0"), "extra.bin"),
    "added git file": (lambda f, k: (f / ".gitignore").write_text("*\n"), ".gitignore"),
    "removed file": (lambda f, k: (f / "assets" / "vocab.txt").unlink(), "vocab.txt"),
    "symlink": (lambda f, k: (f / "link").symlink_to(f / "saved_model.pb"), "link"),
    "missing signature": (lambda f, k: (f / SIGNATURE_FILE).unlink(), "not signed"),
    "wrong key": (lambda f, k: sign.sign_model(f, k / "other.key"), "not made by the key"),
    "forged digest": (lambda f, k: _edit_statement(f, _forge_digest), "not made by the key"),
    "dropped entry": (lambda f, k: _edit_statement(f, _drop_resource), "not made by the key"),
    "garbage signature": (lambda f, k: (f / SIGNATURE_FILE).write_text("{}"), "not made by"),
}


@pytest.fixture
def signed(keys, tmp_path):
    """A small SavedModel-shaped folder signed with the good key."""
    folder = tmp_path / "1"
    (folder / "variables").mkdir(parents=True)
    (folder / "assets").mkdir()
    (folder / "saved_model.pb").write_bytes(bytes(range(256)) * 4)
    (folder / "variables" / "variables.data").write_bytes(np.arange(64, dtype="f4").tobytes())
    (folder / "assets" / "vocab.txt").write_text("a\nb\n")
    sign.sign_model(folder, keys / "good.key")
    return folder


def test_signed_folder_passes_both_verifiers(signed, keys):
    sign.verify_model(signed, keys / "good.pub")
    verify_folder(signed, keys / "good.pub")


@pytest.mark.parametrize("attack", ATTACKS)
def test_both_verifiers_refuse_each_attack_naming_it(signed, keys, attack):
    tamper, named = ATTACKS[attack]
    tamper(signed, keys)
    with pytest.raises(UserError) as by_model_signing:
        sign.verify_model(signed, keys / "good.pub")
    with pytest.raises(EdgeError) as by_cryptography:
        verify_folder(signed, keys / "good.pub")
    assert named in str(by_model_signing.value)
    assert named in str(by_cryptography.value)


def test_model_signing_reads_the_bundle_as_sigstore_specifies(signed):
    bundle = json.loads((signed / SIGNATURE_FILE).read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    names = sorted(r["name"] for r in statement["predicate"]["resources"])
    assert names == ["assets/vocab.txt", "saved_model.pb", "variables/variables.data"]


def test_keygen_never_overwrites_and_sign_cli_round_trips(tmp_path, signed, capsys):
    key, public = tmp_path / "k", tmp_path / "k.pub"
    assert sign.main(["keygen", "--key", str(key), "--public", str(public)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert sign.main(["keygen", "--key", str(key), "--public", str(public)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert sign.main(["sign", str(signed), "--key", str(key)]) == 0
    assert sign.main(["verify", str(signed), "--key", str(public)]) == 0
    _flip(signed / "saved_model.pb")
    assert sign.main(["verify", str(signed), "--key", str(public)]) == 2
    assert "saved_model.pb was changed" in capsys.readouterr().err


@pytest.fixture
def signed_edge(edge_dir, keys, tmp_path):
    copy = tmp_path / "edge"
    shutil.copytree(edge_dir, copy)
    sign.sign_model(copy, keys / "good.key")
    return copy


def test_runtime_loads_a_signed_tflite_without_tensorflow(signed_edge, keys, tmp_path):
    samples = np.load(signed_edge / "samples.npz")
    np.save(tmp_path / "x.npy", samples["x"][:2])
    model = signed_edge / "model_int8.tflite"
    result = run_without_tensorflow(
        "edge.device.predict", model, tmp_path / "x.npy", "--verify-key", keys / "good.pub"
    )
    assert result.returncode == 0, result.stderr
    result = run_without_tensorflow(
        "edge.device.signature", signed_edge, "--key", keys / "good.pub"
    )
    assert result.returncode == 0, result.stderr


def test_runtime_refuses_a_tampered_tflite_even_with_its_sha256_updated(
    signed_edge, keys, tmp_path
):
    """The attack the sha256 in model.json cannot stop: change the file and its recorded hash."""
    model = signed_edge / "model_int8.tflite"
    _flip(model)
    manifest = json.loads((signed_edge / "model.json").read_text())
    manifest["files"][model.name]["sha256"] = sha256_of(model.read_bytes())
    (signed_edge / "model.json").write_text(json.dumps(manifest))
    EdgeModel(model)  # the sha256 check alone is fooled
    with pytest.raises(EdgeError, match="model_int8.tflite was changed after signing"):
        EdgeModel(model, verify_key=keys / "good.pub")
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1), np.float32))
    result = run_without_tensorflow(
        "edge.device.predict", model, tmp_path / "x.npy", "--verify-key", keys / "good.pub"
    )
    assert result.returncode == 2 and "model_int8.tflite was changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_runtime_refuses_a_wrong_key_and_an_unsigned_folder(signed_edge, keys):
    model = signed_edge / "model_float32.tflite"
    with pytest.raises(EdgeError, match="not made by the key"):
        EdgeModel(model, verify_key=keys / "other.pub")
    (signed_edge / SIGNATURE_FILE).unlink()
    with pytest.raises(EdgeError, match="is not signed"):
        EdgeModel(model, verify_key=keys / "good.pub")
