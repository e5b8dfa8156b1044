"""The client's two errors, and how its command line reports them.

`UsageError` is a mistake in what the caller asked for (a missing input file, mTLS with a cert but
no key); `RemoteError` is the server answering with an error status, or not answering in time. Both
carry the `exit_code` and `label` the CLI reports them with. The client is used without the
training code, so it has its own error classes rather than `tfmodel.errors.UserError`.
"""

from __future__ import annotations

import sys


class UsageError(Exception):
    """Bad input from the caller. The CLI prints the message and exits with status 2."""

    exit_code = 2
    label = "error"


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


def report_error(err: UsageError | RemoteError, debug: bool) -> int:
    """Print the error as one line on stderr and return its exit status (with `debug`: raise)."""
    if debug:
        raise err
    print(f"{err.label}: {err}", file=sys.stderr)
    return err.exit_code
