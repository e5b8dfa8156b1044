"""`--auth_token_file` and `--admin_token_file`: bearer tokens checked on every RPC and path.

Every method of both services (and one that does not exist) and every REST path is called with
no token, a wrong one and a good one; a refused call must not tell whether the model exists.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import grpc
import pytest
import secure_server
from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

from serving.client import ServingClient
from serving.client.cli import main as client_main
from serving.errors import UsageError
from serving.server.frontend.auth import TokenAuth
from serving.server.frontend.tls import warn_if_exposed
from serving.server.model_server import ModelServer

MODEL = secure_server.MODEL
start_server = secure_server.start_server  # the fixture, shared by the security tests

USER, ADMIN, WRONG = "user-token-0123456789abcdef", "admin-token-0123456789abcdef", "x" * 26
METHODS = [
    f"/{service.full_name}/{method.name}"
    for module, name in (
        (prediction_service_pb2, "PredictionService"),
        (model_service_pb2, "ModelService"),
    )
    for service in [module.DESCRIPTOR.services_by_name[name]]
    for method in service.methods
] + ["/tensorflow.serving.PredictionService/NoSuchMethod"]
RELOAD = "/tensorflow.serving.ModelService/HandleReloadConfigRequest"
REST_CALLS = [
    ("GET", f"/v1/models/{MODEL}"),
    ("GET", "/v1/models/no_such_model"),
    ("GET", f"/v1/models/{MODEL}/versions/123/metadata"),
    ("POST", f"/v1/models/{MODEL}:predict"),
    ("POST", "/v1/models/no_such_model:predict"),
    ("POST", f"/v1/models/{MODEL}:classify"),
    ("POST", f"/v1/models/{MODEL}:regress"),
    ("GET", "/v1/nothing/here"),
    ("GET", "/not/the/api"),
    ("PUT", f"/v1/models/{MODEL}"),
]


@pytest.fixture
def token_files(tmp_path):
    user, admin = tmp_path / "tokens.txt", tmp_path / "admin.txt"
    user.write_text(f"# user tokens\n\nanother-token-0123456789\n{USER}\n")
    admin.write_text(f"{ADMIN}\n")
    return str(user), str(admin)


@pytest.fixture
def guarded(start_server, token_files):
    user, admin = token_files
    return start_server(auth_token_file=user, admin_token_file=admin)


def grpc_call(server: ModelServer, method: str, token: str | None) -> grpc.StatusCode:
    """The status of `method` called with an empty request (raw bytes: any message parses)."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        try:
            channel.unary_unary(method)(b"", metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def rest_call(server: ModelServer, verb: str, path: str, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}
    url = f"http://127.0.0.1:{server.rest_port}{path}"
    data = b'{"instances": [1.0]}' if verb in ("POST", "PUT") else None
    request = urllib.request.Request(url, data=data, headers=headers, method=verb)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("token", [None, WRONG, USER[:-1]], ids=["none", "wrong", "prefix"])
def test_every_rpc_refuses_a_missing_or_wrong_token_alike(guarded, token):
    answers = {grpc_call(guarded, method, token) for method in METHODS}
    assert len(answers) == 1  # one answer for all: nothing learnt about methods or models
    code, message = answers.pop()
    assert code == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in message


def test_every_rpc_passes_with_a_user_token_but_reload_needs_the_admin_token(guarded):
    for method in METHODS:
        code, _ = grpc_call(guarded, method, USER)
        expected = grpc.StatusCode.PERMISSION_DENIED if method == RELOAD else None
        assert code == expected if expected else code != grpc.StatusCode.UNAUTHENTICATED, method
    assert grpc_call(guarded, RELOAD, ADMIN)[0] == grpc.StatusCode.OK  # empty config: no change
    # an admin token opens every other call too
    with ServingClient(f"127.0.0.1:{guarded.grpc_port}", MODEL, token=ADMIN) as client:
        assert client.status()[0].state == "AVAILABLE"


@pytest.mark.parametrize(
    "authorization", [None, f"Bearer {WRONG}", f"Basic {USER}", USER, "Bearer"]
)
def test_every_rest_path_answers_401_alike_without_a_good_token(guarded, authorization):
    answers = {rest_call(guarded, verb, path, authorization) for verb, path in REST_CALLS}
    assert len(answers) == 1
    status, body = answers.pop()
    assert status == 401 and b"bearer token" in body


def test_rest_paths_answer_as_usual_with_a_good_token(guarded):
    for token in (USER, ADMIN):
        status, body = rest_call(guarded, "GET", f"/v1/models/{MODEL}", f"bearer {token}")
        assert status == 200 and b"AVAILABLE" in body
        assert rest_call(guarded, "GET", "/v1/models/nope", f"Bearer {token}")[0] == 404


def test_client_token_file_and_its_errors(guarded, tmp_path, capsys):
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text(f"{USER}\n")
    wrong.write_text(f"{WRONG}\n")
    for rest, port in ((False, guarded.grpc_port), (True, guarded.rest_port)):
        flags = ["status", "--server", f"127.0.0.1:{port}", "--model", MODEL]
        flags += ["--rest"] if rest else []
        assert client_main([*flags, "--token-file", str(good)]) == 0
        assert "AVAILABLE" in capsys.readouterr().out
        assert client_main([*flags, "--token-file", str(wrong)]) == 1
        assert "the server refused the token" in capsys.readouterr().err
        assert client_main(flags) == 1
        assert "wants a bearer token: pass --token-file" in capsys.readouterr().err


def test_admin_token_alone_guards_reload_and_leaves_the_rest_open(start_server, token_files):
    server = start_server(admin_token_file=token_files[1])
    assert grpc_call(server, RELOAD, None)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_call(server, RELOAD, USER)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_call(server, RELOAD, ADMIN)[0] == grpc.StatusCode.OK
    with ServingClient(f"127.0.0.1:{server.grpc_port}", MODEL) as client:
        assert client.status()[0].state == "AVAILABLE"


def test_token_file_mistakes_are_user_errors(tmp_path):
    (tmp_path / "empty").write_text("# nothing\n\n")
    (tmp_path / "short").write_text("secret\n")
    with pytest.raises(UsageError, match="holds no token"):
        TokenAuth.from_files(str(tmp_path / "empty"), "")
    with pytest.raises(UsageError, match="shorter than 16 characters"):
        TokenAuth.from_files(str(tmp_path / "short"), "")
    with pytest.raises(UsageError, match="cannot read it"):
        TokenAuth.from_files("", str(tmp_path / "missing"))
    assert TokenAuth.from_files("", "") is None


def test_exposed_plaintext_server_warns_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="serving.server.frontend.tls"):
        warn_if_exposed("0.0.0.0", None, tokens=False)
        assert "WITHOUT TLS" in caplog.text and "reload included" in caplog.text
        caplog.clear()
        for host in ("127.0.0.1", "localhost", "::1"):
            warn_if_exposed(host, None, tokens=False)
        assert caplog.text == ""


def test_health_service_stays_open_for_probes_while_models_stay_guarded(start_server, token_files):
    """Kubernetes' gRPC probes send no metadata: Health answers without a token, nothing else."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    user, _ = token_files
    server = start_server(auth_token_file=user, enable_grpc_healthcheck_service=True)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert grpc_call(server, METHODS[0], None)[0] == grpc.StatusCode.UNAUTHENTICATED
