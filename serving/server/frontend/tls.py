"""TLS on both ports from TF Serving's `--ssl_config_file`, an `SSLConfig` text proto.

    server_key: "-----BEGIN PRIVATE KEY-----\\n..."    the server's PEM key (the text, not a path)
    server_cert: "-----BEGIN CERTIFICATE-----\\n..."   its PEM certificate (chain)
    custom_ca: "-----BEGIN CERTIFICATE-----\\n..."     the CA that signs client certificates
    client_verify: true                                 mutual TLS: require a client certificate

TF Serving (model_servers/server.cc) builds gRPC `SslServerCredentials` from it: the key and cert,
`custom_ca` as the roots, and with `client_verify` a client certificate signed by that CA is
required, else none is asked for. The gRPC port here does exactly that; beyond TF Serving, whose
REST port is plaintext only, the REST port is wrapped with the same certificate and rules.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving.errors import UsageError
from serving.server.frontend.limits import PooledHTTPServer

log = logging.getLogger(__name__)


def _ssl_config_class() -> type:
    """tensorflow.serving.SSLConfig (config/ssl_config.proto): the pip package does not ship it,
    so it is declared here with TF Serving's field names, numbers and types."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    message = proto.message_type.add(name="SSLConfig")
    kinds = descriptor_pb2.FieldDescriptorProto
    fields = [("server_key", kinds.TYPE_STRING), ("server_cert", kinds.TYPE_STRING)]
    fields += [("custom_ca", kinds.TYPE_STRING), ("client_verify", kinds.TYPE_BOOL)]
    for number, (name, kind) in enumerate(fields, start=1):
        message.field.add(name=name, number=number, type=kind, label=kinds.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()  # its own pool: never clashes with TF's protos
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.SSLConfig")
    )


SSLConfig = _ssl_config_class()


@dataclasses.dataclass(frozen=True)
class TlsConfig:
    """The PEM bytes of an SSLConfig and whether clients must show a certificate."""

    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool


def read_ssl_config(path: str) -> TlsConfig:
    """Reads and checks an SSLConfig text proto, as `--ssl_config_file` takes it."""
    try:
        config = text_format.Parse(Path(path).read_text(), SSLConfig())
    except OSError as error:
        raise UsageError(f"--ssl_config_file {path}: cannot read it ({error.strerror}).") from None
    except text_format.ParseError as error:  # its message would quote the file: a key, maybe
        where = f"line {error.GetLine()}, column {error.GetColumn()}"
        raise UsageError(
            f"--ssl_config_file {path} is not an SSLConfig text proto ({where}); it holds "
            'server_key: "<PEM>", server_cert: "<PEM>", custom_ca: "<PEM>", client_verify: true'
        ) from None
    if not config.server_key or not config.server_cert:
        raise UsageError(f"--ssl_config_file {path}: server_key and server_cert must both be set.")
    if config.client_verify and not config.custom_ca:
        raise UsageError(
            f"--ssl_config_file {path}: client_verify needs custom_ca, the PEM certificate of the "
            "CA that signs the client certificates."
        )
    tls = TlsConfig(
        config.server_key.encode(),
        config.server_cert.encode(),
        config.custom_ca.encode() or None,
        config.client_verify,
    )
    rest_context(tls, source=path)  # a key that does not match its cert fails here, not later
    return tls


def grpc_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    """TF Serving's SslServerCredentials: the key pair, custom_ca roots, client certs if asked."""
    return grpc.ssl_server_credentials(
        [(tls.server_key, tls.server_cert)],
        root_certificates=tls.custom_ca,
        require_client_auth=tls.client_verify,
    )


def rest_context(tls: TlsConfig, source: str = "--ssl_config_file") -> ssl.SSLContext:
    """A server-side SSLContext with the same certificate and client rules as the gRPC port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # load_cert_chain reads files only: the key goes to a private (0700) temporary folder.
        with tempfile.TemporaryDirectory(prefix="tls-") as folder:
            key, cert = Path(folder, "key.pem"), Path(folder, "cert.pem")
            for file, content in ((key, tls.server_key), (cert, tls.server_cert)):
                descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    out.write(content)
            context.load_cert_chain(cert, key)
        if tls.custom_ca:
            context.load_verify_locations(cadata=tls.custom_ca.decode())
    except ssl.SSLError as error:
        raise UsageError(
            f"{source}: the server key, certificate or custom_ca is not valid PEM, or the key "
            f"does not match the certificate ({error.reason or error})."
        ) from None
    if tls.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def is_loopback(host: str) -> bool:
    """Whether `host` (as given to --host) is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, tls: TlsConfig | None, tokens: bool) -> None:
    """Says loudly at startup when the ports are reachable from the network without TLS."""
    if tls is not None or is_loopback(host):
        return
    who = "anyone who reaches it" if not tokens else "anyone on the path"
    log.warning(
        "\n%s\nSERVING ON %s WITHOUT TLS: %s can read every request and answer%s.\n"
        "Pass --ssl_config_file (and --auth_token_file), or bind --host=127.0.0.1.\n%s",
        "!" * 78,
        host or "ALL INTERFACES",
        who,
        ", and copy the bearer tokens" if tokens else ", and call every RPC, reload included",
        "!" * 78,
    )


# A TLS connection starts with a handshake record (content type 22); plain HTTP with a letter.
_TLS_HANDSHAKE = b"\x16"
_HANDSHAKE_SECONDS = 10
_PLAINTEXT_BODY = b'{"error": "This port speaks TLS only: use https:// to reach it."}'
_PLAINTEXT_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_PLAINTEXT_BODY), _PLAINTEXT_BODY)
)


class TlsHttpServer(PooledHTTPServer):
    """The REST server whose connections speak TLS with `ssl_context` (set on the class).

    The handshake runs in the connection's own pooled thread, with a deadline, so a slow or
    plaintext client never holds up the accept loop or a thread for long; plain HTTP gets a 400
    saying to use https://.
    """

    ssl_context: ssl.SSLContext

    def finish_request(self, request: socket.socket, client_address) -> None:
        request.settimeout(_HANDSHAKE_SECONDS)
        try:
            if request.recv(1, socket.MSG_PEEK) != _TLS_HANDSHAKE:
                request.sendall(_PLAINTEXT_ANSWER)
                return
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:  # no, a bad or an untrusted client certificate
            log.info("TLS handshake with %s failed: %s", client_address[0], error)
            return
        with connection:
            connection.settimeout(None)
            super().finish_request(connection, client_address)
