"""The client's token file, its warning for a token sent in clear, and how refusals are worded.

The wording of real handshake failures is checked in tests/serving/server/test_server_tls.py;
here, the cases that need no server.
"""

import warnings

import pytest

from serving.client.errors import RemoteError, UsageError
from serving.client.security import explain, read_token, warn_if_token_in_clear
from serving.client.transport import RetryPolicy, TlsFiles, call_with_retry


def test_read_token_skips_comments_and_refuses_an_empty_file(tmp_path):
    (tmp_path / "t").write_text("# for the digits server\n\n  abc-token-0123456789  \nsecond\n")
    assert read_token(tmp_path / "t") == "abc-token-0123456789"
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(UsageError, match="holds no token"):
        read_token(tmp_path / "empty")
    with pytest.raises(UsageError, match="cannot read it"):
        read_token(tmp_path / "missing")


@pytest.mark.parametrize(
    "server, tls, warned",
    [
        ("10.0.0.5:8500", None, True),
        ("models.example.com:8501", None, True),
        ("localhost:8500", None, False),
        ("127.0.0.1:8500", None, False),
        ("[::1]:8500", None, False),
        ("10.0.0.5:8500", TlsFiles(), False),
    ],
)
def test_a_token_sent_in_clear_beyond_this_machine_is_warned_about(server, tls, warned):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_token_in_clear(server, "token", tls)
    assert bool(caught) == warned


def test_refused_tokens_are_explained_and_other_errors_left_alone():
    assert "pass --token-file" in explain("UNAUTHENTICATED", "x", "h:1", None, None)
    assert "refused the token" in explain("UNAUTHENTICATED", "x", "h:1", None, "t")
    assert "not allowed this call" in explain("PERMISSION_DENIED", "x", "h:1", None, "t")
    assert explain("NOT_FOUND", "Servable not found", "h:1", TlsFiles(), "t") == (
        "Servable not found"
    )


def test_certificate_failures_are_not_retried():
    calls = []

    def refused():
        calls.append(1)
        raise RemoteError("UNAVAILABLE", "certificate: ...", retryable=False)

    with pytest.raises(RemoteError):
        call_with_retry(refused, RetryPolicy(attempts=5), sleep=lambda _: None)
    assert len(calls) == 1
