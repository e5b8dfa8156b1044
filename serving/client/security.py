"""The client's side of a protected server: its bearer token and what a refusal means.

A server started with `--auth_token_file` wants `authorization: Bearer <token>` on every call
(gRPC metadata, or the HTTP header); with `--ssl_config_file` it speaks TLS, and with
`client_verify` it wants a client certificate too. When the handshake or the token fails, the
transport's bare error ("Socket closed", CERTIFICATE_VERIFY_FAILED) is turned here into a sentence
saying which was wrong: the server's certificate, its host name, our certificate, or the token.
"""

from __future__ import annotations

import ipaddress
import warnings
from pathlib import Path

from serving.client.errors import UsageError

# Substrings of gRPC's and OpenSSL's messages, lower-cased, and what each one means.
_HOSTNAME = ("hostname", "not valid for", "peer name", "no match found for server name")
_SERVER_CERTIFICATE = ("certificate_verify_failed", "certificate verify failed")
_UNREACHABLE = ("connection refused", "errors resolving", "name or service not known")
_CLIENT_CERTIFICATE = (
    "unknown ca",
    "certificate required",
    "bad certificate",
    "peer_did_not_return_a_certificate",
    "eof occurred in violation of protocol",
    "socket closed",
    "connection reset",
)


def read_token(path: Path) -> str:
    """The first token in a token file (one per line; blank lines and `#` comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise UsageError(f"token file {path}: cannot read it ({err.strerror})") from None
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    raise UsageError(f"token file {path} holds no token; put the token on its first line")


def warn_if_token_in_clear(server: str, token: str | None, tls: object | None) -> None:
    """A token sent without TLS beyond this machine can be read on the way: say so."""
    host = server.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if token and tls is None and not local:
        warnings.warn(
            f"sending a bearer token to {server} without TLS: anyone on the network path can "
            "read it; pass --root-cert to use TLS",
            stacklevel=3,
        )


def explain(code: str, details: str, server: str, tls, token: str | None) -> str:
    """`details` with a sentence first naming what was wrong, when the cause is security.

    A handshake failure starts with "certificate:" or "hostname:", a refused token mentions the
    token; `is_security_failure` recognises them (retrying would not help).
    """
    text = details.lower()
    if code == "UNAUTHENTICATED":
        if token is None:
            return f"the server wants a bearer token: pass --token-file ({details})"
        return f"the server refused the token: it is not one it accepts ({details})"
    if code == "PERMISSION_DENIED" and token is not None:
        return f"the token is valid but not allowed this call ({details})"
    if code == "UNAVAILABLE" and any(marker in text for marker in _UNREACHABLE):
        return f"cannot reach {server}: is a server running there? ({details})"
    if code != "UNAVAILABLE" or tls is None:
        if code == "UNAVAILABLE" and "socket closed" in text:
            return f"{details} (if the server uses TLS, pass --root-cert)"
        return details
    host = server.split("://")[-1].rsplit(":", 1)[0]
    if "wrong_version_number" in text or "wrong version number" in text:
        return (
            f"certificate: the server does not speak TLS on this port; drop --root-cert ({details})"
        )
    if any(marker in text for marker in _HOSTNAME):
        return (
            f"hostname: the server's certificate does not name {host!r}; connect with a name or "
            f"address its certificate lists ({details})"
        )
    if any(marker in text for marker in _SERVER_CERTIFICATE) and "alert" not in text:
        return (
            f"certificate: the server's certificate is not signed by the CA in --root-cert "
            f"{tls.root_cert} ({details})"
        )
    if any(marker in text for marker in _CLIENT_CERTIFICATE):
        mine = (
            f"--client-cert {tls.client_cert} is not signed by a CA the server trusts"
            if tls.client_cert
            else "pass --client-cert and --client-key signed by the CA the server trusts"
        )
        return (
            f"certificate: the server refused the TLS handshake, as a server with "
            f"client_verify does for a missing or untrusted client certificate: {mine} "
            f"({details})"
        )
    return details


def is_security_failure(explained: str) -> bool:
    """Whether `explain` named a certificate or host name problem: retrying cannot fix it."""
    return explained.startswith(("certificate:", "hostname:"))
