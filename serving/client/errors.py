"""The client's two errors, and how its command line reports them.

`UsageError` (the serving side's, `serving.errors`) is a mistake in what the caller asked for (a
missing input file, mTLS with a cert but no key); `RemoteError` is the server answering with an
error status, or not answering in time. Both carry the `exit_code` and `label` that
`report_error` prints them with.
"""

from __future__ import annotations

from serving.errors import UsageError, report_error

__all__ = ["RemoteError", "UsageError", "report_error"]


class RemoteError(Exception):
    """The server answered with an error status, or could not be reached in time."""

    exit_code = 1
    label = "server error"

    def __init__(
        self, code: str, details: str, http_status: int | None = None, retryable: bool = True
    ):
        self.code = code  # a gRPC status name: NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE, …
        self.details = details
        self.http_status = http_status
        self.retryable = retryable and code == "UNAVAILABLE"  # not a failed TLS handshake
        where = f" (HTTP {http_status})" if http_status else ""
        super().__init__(f"{code}{where}: {details}")
