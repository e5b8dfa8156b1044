"""`--model_verify_key`: only versions signed by the key load; a bad new one leaves the old serving.

Models are TF Serving's half_plus_two rebuilt (y = 0.5·x + intercept), signed with `tfmodel.sign`;
the base path is re-read by `poll_once` so each step is deterministic. The last test goes the
user's way: `serving.publish --sign-key`, `tfmodel.sign verify`, a verifying server.
"""

from __future__ import annotations

import subprocess
import sys

import grpc
import numpy as np
import pytest
import secure_server
from tensorflow_serving.apis import get_model_status_pb2

from serving import apis
from serving.client import ServingClient
from serving.errors import UsageError
from serving.publish import cli as publish_cli
from serving.server.core.server_core import CoreOptions
from serving.server.model_server import ModelServer, ServerOptions
from tfmodel import sign
from tfmodel.backend import keras
from tfmodel.config import Config, save_config
from tfmodel.runs import CONFIG_FILE, MODEL_FILE

MODEL = secure_server.MODEL
start_server = secure_server.start_server  # the fixture, shared by the security tests

State = get_model_status_pb2.ModelVersionStatus.State


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for stem in ("good", "other"):
        sign.generate_key_pair(folder / f"{stem}.key", folder / f"{stem}.pub")
    return folder


def verifying(key) -> CoreOptions:
    """Polls only when asked (`poll_once`), loads only versions `key` signed, never retries."""
    return CoreOptions(
        file_system_poll_wait_seconds=0, model_verify_key=str(key), max_num_load_retries=0
    )


def predict(server: ModelServer) -> np.ndarray:
    with ServingClient(f"127.0.0.1:{server.grpc_port}", MODEL) as client:
        return client.predict({"x": np.array([[2.0]], np.float32)})["y"].ravel()


def status(server: ModelServer, version: int) -> apis.ModelVersionStatus:
    spec = apis.ModelSpec(name=MODEL)
    spec.version.value = version
    (answer,) = server.core.version_statuses(spec)
    return answer


def test_signed_version_loads_and_serves(make_half_plus_two, keys, tmp_path, start_server):
    sign.sign_model(make_half_plus_two(tmp_path / MODEL, 1), keys / "good.key")
    server = start_server(tmp_path / MODEL, verifying(keys / "good.pub"))
    np.testing.assert_allclose(predict(server), [3.0])


def _flip_variables(version_dir, keys):
    path = next((version_dir / "variables").glob("variables.data-*"))
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01
    path.write_bytes(bytes(content))


# attack on a signed version 2 → words the refusal (its status) must hold
ATTACKS = {
    "flipped byte": (_flip_variables, "variables/variables.data-00000-of-00001 was changed"),
    "added file": (lambda v, k: (v / "backdoor.pb").write_bytes(b"x"), "backdoor.pb was added"),
    "removed file": (
        lambda v, k: (v / "variables" / "variables.index").unlink(),
        "variables.index",
    ),
    "wrong key": (lambda v, k: sign.sign_model(v, k / "other.key"), "not made by the key"),
    "unsigned": (lambda v, k: (v / sign.SIGNATURE_FILE).unlink(), "is not signed"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_tampered_new_version_is_refused_and_the_old_one_keeps_serving(
    make_half_plus_two, keys, tmp_path, start_server, attack
):
    base = tmp_path / MODEL
    sign.sign_model(make_half_plus_two(base, 1), keys / "good.key")
    server = start_server(base, verifying(keys / "good.pub"))
    new = make_half_plus_two(base, 2, intercept=10.0)
    sign.sign_model(new, keys / "good.key")
    tamper, named = ATTACKS[attack]
    tamper(new, keys)
    server.core.poll_once()

    refused = status(server, 2)
    assert refused.state == State.END
    assert refused.status.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "Refusing to load an unverified model" in refused.status.error_message
    assert named in refused.status.error_message
    assert status(server, 1).state == State.AVAILABLE
    np.testing.assert_allclose(predict(server), [3.0])  # version 1: 0.5·2 + 2


def test_unsigned_only_version_fails_startup_naming_it(make_half_plus_two, keys, tmp_path):
    make_half_plus_two(tmp_path / MODEL, 1)
    options = ServerOptions(
        port=0,
        model_name=MODEL,
        model_base_path=str(tmp_path / MODEL),
        core=verifying(keys / "good.pub"),
    )
    with pytest.raises(UsageError, match="is not signed"):
        ModelServer(options).start()


def test_a_refused_version_is_not_retried_however_many_retries_are_allowed(
    make_half_plus_two, keys, tmp_path, start_server, caplog
):
    """A missing signature does not fix itself: one refusal, then END, with retries left."""
    base = tmp_path / MODEL
    sign.sign_model(make_half_plus_two(base, 1), keys / "good.key")
    retrying = CoreOptions(
        file_system_poll_wait_seconds=0,
        model_verify_key=str(keys / "good.pub"),
        max_num_load_retries=5,
        load_retry_interval_seconds=0,  # a retryable failure would be retried on every poll
    )
    server = start_server(base, retrying)
    make_half_plus_two(base, 2, intercept=10.0)  # unsigned
    for _ in range(3):
        server.core.poll_once()
    refusals = [r for r in caplog.records if "Refusing to load an unverified" in r.getMessage()]
    assert len(refusals) == 1
    assert status(server, 2).state == State.END
    np.testing.assert_allclose(predict(server), [3.0])


@pytest.mark.slow
def test_a_server_whose_only_version_is_unsigned_exits_at_once(
    make_half_plus_two, keys, tmp_path, server_process
):
    """With TF Serving's default retries (5 x 1 min) it used to wait minutes with ports closed."""
    make_half_plus_two(tmp_path / MODEL, 1)
    process, _ = server_process(
        f"--model_base_path={tmp_path / MODEL}",
        f"--model_name={MODEL}",
        f"--model_verify_key={keys / 'good.pub'}",
        ready=False,
    )
    _, stderr = process.communicate(timeout=90)  # TensorFlow's import is most of it
    assert process.returncode == 2
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "1 model(s) did not become available" in line
    assert f"{{name: {MODEL} version: 1}} due to error: Refusing to load an unverified" in line
    assert "is not signed" in line


def test_a_bad_verify_key_fails_at_startup(half_plus_two, tmp_path):
    (tmp_path / "key.pub").write_text("not a key\n")
    options = ServerOptions(
        port=0,
        model_name=MODEL,
        model_base_path=str(half_plus_two),
        core=CoreOptions(model_verify_key=str(tmp_path / "key.pub")),
    )
    with pytest.raises(UsageError, match="is not a P-256/384/521 public key"):
        ModelServer(options).start()


def test_reload_cannot_make_the_server_load_an_unsigned_path(
    make_half_plus_two, keys, tmp_path, start_server
):
    """HandleReloadConfigRequest can name any folder on the server's disk: it must be signed."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.server.status import ServingError

    base = tmp_path / MODEL
    sign.sign_model(make_half_plus_two(base, 1), keys / "good.key")
    server = start_server(base, verifying(keys / "good.pub"))
    make_half_plus_two(tmp_path / "planted", 1, intercept=-100.0)
    config = model_server_config_pb2.ModelServerConfig()
    for name, path in ((MODEL, base), ("planted", tmp_path / "planted")):
        config.model_config_list.config.add(
            name=name, base_path=str(path), model_platform="tensorflow"
        )
    with pytest.raises(ServingError, match="planted/1 is not signed"):
        server.core.reload_config(config)
    np.testing.assert_allclose(predict(server), [3.0])


@pytest.mark.slow
def test_a_version_published_with_a_sign_key_verifies_and_a_verifying_server_serves_it(
    keys, tmp_path, server_process
):
    """The publish gate with `--sign-key` once published unsigned versions (issue 18)."""
    run = tmp_path / "run"
    run.mkdir()
    config = Config()
    config.export.model_name, config.export.warmup_records = "digits", 1
    save_config(config, run / CONFIG_FILE)
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(8, 8, 1), name="pixels")
    model = keras.Model(pixels, keras.layers.Dense(10)(keras.layers.Flatten()(pixels)))
    model.save(run / MODEL_FILE)
    base = tmp_path / "live" / "digits"

    assert publish_cli.main([str(run), str(base), "--sign-key", str(keys / "good.key")]) == 0
    verified = subprocess.run(
        [sys.executable, "-m", "tfmodel.sign", "verify", str(base / "1")]
        + ["--key", str(keys / "good.pub")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified")

    _, address = server_process(
        f"--model_base_path={base}",
        "--model_name=digits",
        f"--model_verify_key={keys / 'good.pub'}",
    )
    x = np.random.default_rng(0).integers(0, 17, size=(3, 8, 8, 1)).astype(np.float32)
    with ServingClient(address.grpc, "digits") as client:
        logits = client.predict({"pixels": x})["logits"]
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
