"""`python -m serving.server.rollout`: versions and labels edited in models.config, picked up live.

Version 1 of half_plus_two answers 0.5·x + 2 and version 2 answers 0.5·x + 3, so the answer
tells which version a label reached.
"""

import time

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.client import ServingClient
from serving.client.errors import RemoteError
from serving.server import rollout

WAIT = 60  # bound for the server's config poll to apply an edit, never a timing assertion


@pytest.fixture
def models(tmp_path, make_half_plus_two):
    """A model base with versions 1 and 2, and a models.config naming it (latest policy)."""
    base = tmp_path / "half_plus_two"
    make_half_plus_two(base, 1, intercept=2.0)
    make_half_plus_two(base, 2, intercept=3.0)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "hpt" base_path: "{base}" '
        'model_platform: "tensorflow" } }'
    )
    return config


def entry(config) -> model_server_config_pb2.ModelConfig:
    parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
    return parsed.model_config_list.config[0]


def test_edits_are_checked_and_rolled_back_in_order(models, capsys):
    original = models.read_text()
    assert rollout.main([str(models), "labels", "set", "stable=1"]) == 2  # latest serves only 2
    assert "does not serve version 1" in capsys.readouterr().err
    assert models.read_text() == original

    assert rollout.main([str(models), "versions", "keep", "1,2"]) == 0
    assert list(entry(models).model_version_policy.specific.versions) == [1, 2]
    assert rollout.main([str(models), "labels", "set", "stable=1", "canary=2"]) == 0
    assert dict(entry(models).version_labels) == {"stable": 1, "canary": 2}
    assert "labels     canary=2, stable=1" in capsys.readouterr().out

    assert rollout.main([str(models), "versions", "keep", "1"]) == 2  # canary would dangle
    assert rollout.main([str(models), "versions", "keep", "1,3"]) == 2  # no folder 3
    assert rollout.main([str(models), "labels", "set", "canary"]) == 2
    assert dict(entry(models).version_labels) == {"stable": 1, "canary": 2}

    assert rollout.main([str(models), "rollback"]) == 0  # undoes the labels
    assert dict(entry(models).version_labels) == {}
    assert rollout.main([str(models), "rollback"]) == 0  # undoes versions keep
    assert entry(models).model_version_policy.WhichOneof("policy_choice") is None
    assert rollout.main([str(models), "rollback"]) == 2
    assert "no earlier state" in capsys.readouterr().err


def test_a_config_with_several_models_needs_model(models, capsys):
    one = entry(models)
    config = model_server_config_pb2.ModelServerConfig()
    for name in ("a", "b"):
        config.model_config_list.config.add().CopyFrom(one)
        config.model_config_list.config[-1].name = name
    models.write_text(text_format.MessageToString(config))
    assert rollout.main([str(models), "show"]) == 2
    assert "pass --model" in capsys.readouterr().err
    assert rollout.main([str(models), "--model", "b", "versions", "keep", "1"]) == 0
    edited = text_format.Parse(models.read_text(), model_server_config_pb2.ModelServerConfig())
    a, b = edited.model_config_list.config
    assert (a.name, b.name) == ("a", "b")
    assert not a.HasField("model_version_policy") and list(
        b.model_version_policy.specific.versions
    ) == [1]


def answer(grpc_address: str, label: str = "", version: int | None = None) -> float:
    with ServingClient(grpc_address, "hpt", label=label or None, version=version) as client:
        return float(client.predict({"x": np.array([[1.0]], np.float32)})["y"][0][0])


def wait_for_answer(grpc_address: str, expected: float, **pinned) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if answer(grpc_address, **pinned) == expected:
                return
        except RemoteError:
            pass  # the version or label is not there yet
        assert time.monotonic() < deadline, f"{pinned} never answered {expected}"
        time.sleep(0.1)


def test_a_canary_roll_out_and_rollback_reach_clients_through_labels(local_server, models):
    address = local_server(model_config_file=models, model_config_file_poll_wait_seconds=0.2)
    assert answer(address.grpc) == 3.5  # the latest policy serves version 2 only
    assert rollout.main([str(models), "versions", "keep", "1,2"]) == 0
    wait_for_answer(address.grpc, 2.5, version=1)  # loaded on the next config poll
    assert rollout.main([str(models), "labels", "set", "stable=1", "canary=2"]) == 0
    wait_for_answer(address.grpc, 2.5, label="stable")
    assert answer(address.grpc, "canary") == 3.5

    assert rollout.main([str(models), "labels", "set", "stable=2"]) == 0  # promote
    wait_for_answer(address.grpc, 3.5, label="stable")
    assert rollout.main([str(models), "rollback"]) == 0  # the promotion was bad
    wait_for_answer(address.grpc, 2.5, label="stable")
    assert answer(address.grpc, "canary") == 3.5
