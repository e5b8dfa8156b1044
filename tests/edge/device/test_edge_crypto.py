"""Encrypted edge files: `edge.encrypt` seals them, the runtime opens them in memory.

The runtime side runs in subprocesses where TensorFlow cannot be imported, as on a device. Every
refusal must name the file and its reason, exit 2 and load nothing; the decrypted model must
never reach the disk or an open file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from test_edge_runtime import BLOCKER, REPO, run_without_tensorflow

from edge import encrypt
from edge.device.crypto import KEY_ENV, Binding, key_id, read_key, seal
from edge.device.runtime import EdgeError, EdgeModel, sha256_of

pytestmark = pytest.mark.slow  # every test shares an edge.optimize run (~30 s)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for stem in ("good", "other"):
        encrypt.generate_key(folder / f"{stem}.key")
    return folder


@pytest.fixture
def sealed(edge_dir, keys, tmp_path):
    """A copy of the session's edge folder with every file encrypted with the good key."""
    folder = tmp_path / "edge"
    shutil.copytree(edge_dir, folder)
    encrypt.encrypt_folder(folder, keys / "good.key")
    return folder


def plain_files(edge_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(edge_dir.glob("model_*.tflite"))}


def distinctive_chunk(content: bytes) -> bytes:
    """64 bytes from the middle of a model (its weights): what a plaintext copy would hold."""
    return content[len(content) // 2 : len(content) // 2 + 64]


def test_keygen_writes_a_private_hex_key_and_never_overwrites(tmp_path, capsys):
    path = tmp_path / "k.key"
    assert encrypt.main(["keygen", "--key", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text)  # 64 hex digits
    assert key_id(bytes.fromhex(text)) in capsys.readouterr().out
    assert encrypt.main(["keygen", "--key", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err and path.read_text() == text
    (tmp_path / "raw.key").write_bytes(bytes.fromhex(text))  # the documented raw form
    assert read_key(tmp_path / "raw.key") == read_key(path) == bytes.fromhex(text)


def test_sealed_folder_records_cipher_and_sha256_and_holds_no_plain_model(edge_dir, sealed, keys):
    plain = plain_files(edge_dir)
    manifest = json.loads((sealed / "model.json").read_text())
    assert not list(sealed.glob("*.tflite"))
    assert sorted(manifest["files"]) == sorted(f"{name}.enc" for name in plain)
    key = read_key(keys / "good.key")
    for name, content in plain.items():
        entry = manifest["files"][f"{name}.enc"]
        encrypted = (sealed / f"{name}.enc").read_bytes()
        assert entry["encryption"] == {
            "cipher": "AES-256-GCM",
            "key_id": key_id(key),
            "plain_bytes": len(content),
        }
        assert entry["sha256"] == sha256_of(encrypted) and entry["bytes"] == len(encrypted)
        assert distinctive_chunk(content) not in encrypted
        # The documented layout, read by hand: associated data, 12-byte nonce, ciphertext + tag.
        header_end = 10 + int.from_bytes(encrypted[8:10], "big")
        header = json.loads(encrypted[10:header_end])
        assert header["model"] == manifest["model"]["name"]
        assert header["version"] == manifest["model"]["version"]
        assert header["variant"] == entry["variant"]
        nonce, body = encrypted[header_end : header_end + 12], encrypted[header_end + 12 :]
        assert AESGCM(key).decrypt(nonce, body, encrypted[:header_end]) == content


def test_every_file_gets_a_fresh_nonce(edge_dir, keys, tmp_path):
    content = next(iter(plain_files(edge_dir).values()))
    key, binding = read_key(keys / "good.key"), Binding("m", "1", "float32")
    first, second = seal(content, key, binding), seal(content, key, binding)
    header_end = len(first) - 12 - len(content) - 16  # then the nonce, the ciphertext, the tag
    assert first[:header_end] == second[:header_end]
    assert first[header_end : header_end + 12] != second[header_end : header_end + 12]


def test_encrypted_and_plain_files_give_bit_identical_outputs(
    edge_dir, sealed, keys, digits_splits
):
    x = digits_splits.x_test
    for name in plain_files(edge_dir):
        plain = EdgeModel(edge_dir / name).predict(x)
        encrypted = EdgeModel(sealed / f"{name}.enc", decrypt_key=keys / "good.key").predict(x)
        assert plain.dtype == encrypted.dtype and np.array_equal(plain, encrypted), name


def test_command_lines_decrypt_without_tensorflow_by_flag_or_environment(
    edge_dir, sealed, keys, tmp_path, monkeypatch
):
    with np.load(edge_dir / "samples.npz") as samples:
        np.save(tmp_path / "x.npy", samples["x"][:20])
    name = "model_int8.tflite"
    plain = run_without_tensorflow(
        "edge.device.predict", edge_dir / name, tmp_path / "x.npy", "--json"
    )
    by_flag = run_without_tensorflow(
        "edge.device.predict",
        sealed / f"{name}.enc",
        tmp_path / "x.npy",
        "--json",
        "--decrypt-key",
        keys / "good.key",
    )
    monkeypatch.setenv(KEY_ENV, str(keys / "good.key"))
    by_env = run_without_tensorflow(
        "edge.device.predict", sealed / f"{name}.enc", tmp_path / "x.npy", "--json"
    )
    assert plain.returncode == by_flag.returncode == by_env.returncode == 0, by_flag.stderr
    assert json.loads(plain.stdout) == json.loads(by_flag.stdout) == json.loads(by_env.stdout)
    timed = run_without_tensorflow("edge.device.benchmark", sealed / f"{name}.enc", "--runs", "5")
    assert timed.returncode == 0 and f"{name}.enc" in timed.stdout, timed.stderr


# Run with TensorFlow blocked: load and predict an encrypted file, then read every file the
# process holds open (deleted ones and memfds included) and count those holding the plain model.
# The plain file is then opened on purpose, to show the count would see it.
SCAN_OPEN_FILES = BLOCKER + textwrap.dedent(
    """
    import os, stat, sys
    import numpy as np
    from edge.device.runtime import EdgeModel

    def holding(chunk):
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                if stat.S_ISREG(os.stat(f"/proc/self/fd/{fd}").st_mode):
                    with open(f"/proc/self/fd/{fd}", "rb") as held:
                        if chunk in held.read():
                            found.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        return found

    sealed, key, plain = sys.argv[1:]
    chunk = open(plain, "rb").read()
    chunk = chunk[len(chunk) // 2 : len(chunk) // 2 + 64]
    model = EdgeModel(sealed, decrypt_key=key)
    model.predict(np.zeros((3, *model.input_shape), np.float32))
    print(len(holding(chunk)))
    control = open(plain, "rb")
    print(len(holding(chunk)))
    """
)


def test_plain_model_reaches_no_file_and_no_open_file(edge_dir, sealed, keys, tmp_path):
    name = "model_float32.tflite"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp))
    args = [sealed / f"{name}.enc", keys / "good.key", edge_dir / name]
    result = subprocess.run(
        [sys.executable, "-c", SCAN_OPEN_FILES, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "1"]  # none while running; the control file is seen
    chunk = distinctive_chunk((edge_dir / name).read_bytes())
    written = [p for p in [*sealed.rglob("*"), *tmp.rglob("*")] if p.is_file()]
    assert written and not [p for p in written if chunk in p.read_bytes()]


def _flip_body(folder, name, keys):
    content = bytearray((folder / name).read_bytes())
    content[-40] ^= 0x01  # inside the ciphertext
    (folder / name).write_bytes(bytes(content))


def _reseal(binding_change):
    """Replace the int8 file by the same model sealed (good key) for another model or version."""

    def attack(folder, name, keys):
        manifest = json.loads((folder / "model.json").read_text())
        model = manifest["model"]
        binding = Binding(model["name"], model["version"], "int8")
        content = (folder / "plain" / "model_int8.tflite").read_bytes()
        other = dataclasses.replace(binding, **binding_change)
        (folder / name).write_bytes(seal(content, read_key(keys / "good.key"), other))

    return attack


def _forge_version(folder, name, keys):
    """Another version's file whose header is edited to claim this version: its tag fails."""
    _reseal({"version": "digits_mlp-older"})(folder, name, keys)
    content = (folder / name).read_bytes()
    header_end = 10 + int.from_bytes(content[8:10], "big")
    header = json.loads(content[10:header_end])
    header["version"] = json.loads((folder / "model.json").read_text())["model"]["version"]
    forged = json.dumps(header, sort_keys=True).encode()
    prefix = content[:8] + len(forged).to_bytes(2, "big") + forged
    (folder / name).write_bytes(prefix + content[header_end:])


# attack → (what it does to the sealed int8 file, the key passed, the reason the refusal names)
ATTACKS = {
    "wrong key": (None, "other.key", "encrypted with another key"),
    "missing key": (None, None, "no key was given"),
    "missing key file": (None, "absent.key", "cannot be read"),
    "garbage key file": (None, "garbage.key", "neither 32 raw bytes nor 64 hex digits"),
    "tampered file": (_flip_body, "good.key", "was altered after it was encrypted"),
    "another version": (
        _reseal({"version": "digits_mlp-older"}),
        "good.key",
        "version 'digits_mlp-older'",
    ),
    "another model": (_reseal({"model": "fashion"}), "good.key", "model 'fashion'"),
    "another variant": (
        lambda f, n, k: shutil.copy(f / "model_float32.tflite.enc", f / n),
        "good.key",
        "(float32), but model.json describes",
    ),
    "forged header": (_forge_version, "good.key", "was altered after it was encrypted"),
    "damaged header": (
        lambda f, n, k: (f / n).write_bytes((f / n).read_bytes()[:14]),
        "good.key",
        "has a damaged encryption header",
    ),
    "plain file swapped in": (
        lambda f, n, k: shutil.copy(f / "plain" / "model_int8.tflite", f / n),
        "good.key",
        "is not encrypted, but model.json lists it",
    ),
}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_each_bad_case_is_refused_naming_file_and_reason(
    attack, edge_dir, sealed, keys, tmp_path, monkeypatch
):
    change, key_name, reason = ATTACKS[attack]
    (tmp_path / "garbage.key").write_text("not a key\n")
    shutil.copytree(edge_dir, sealed / "plain", ignore=shutil.ignore_patterns("analysis"))
    name = "model_int8.tflite.enc"
    if change:
        change(sealed, name, keys)
    key = (
        None if key_name is None else (keys if (keys / key_name).is_file() else tmp_path) / key_name
    )
    monkeypatch.delenv(KEY_ENV, raising=False)

    def no_interpreter(name="auto"):
        raise AssertionError("an interpreter was made for a refused file")

    monkeypatch.setattr("edge.device.runtime.find_interpreter", no_interpreter)
    with pytest.raises(EdgeError) as refused:
        EdgeModel(sealed / name, decrypt_key=key)
    assert str(sealed / name) in str(refused.value) and reason in str(refused.value)

    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1), np.float32))
    flags = [] if key is None else ["--decrypt-key", key]
    result = run_without_tensorflow(
        "edge.device.predict", sealed / name, tmp_path / "x.npy", *flags
    )
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and name in line and reason in line


def test_signature_covers_the_encrypted_bytes(sealed, keys, tmp_path):
    from edge.device.signature import verify_folder
    from tfmodel import sign

    sign.generate_key_pair(tmp_path / "s.key", tmp_path / "s.pub")
    sign.sign_model(sealed, tmp_path / "s.key")
    verify_folder(sealed, tmp_path / "s.pub")
    model = sealed / "model_int8.tflite.enc"
    EdgeModel(model, verify_key=tmp_path / "s.pub", decrypt_key=keys / "good.key")
    _flip_body(sealed, model.name, keys)
    with pytest.raises(EdgeError, match="model_int8.tflite.enc was changed after signing"):
        EdgeModel(model, verify_key=tmp_path / "s.pub", decrypt_key=keys / "good.key")
