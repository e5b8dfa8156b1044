"""The serving side's user error, shared by the client and the server, and how a CLI reports it.

`UsageError` is a mistake in what the caller asked for: a missing input file, a flag out of range,
an unreadable config or key file. The serving side runs without the training code, so it has its
own class rather than `tfmodel.errors.UserError`; `report_error` prints any error that carries an
`exit_code` and a `label` (the client's `RemoteError` too) as one line.
"""

from __future__ import annotations

import sys


class UsageError(Exception):
    """Bad input from the caller. The CLI prints the message and exits with status 2."""

    exit_code = 2
    label = "error"


def report_error(err: Exception, debug: bool) -> int:
    """Print the error as one line on stderr and return its exit status (with `debug`: raise)."""
    if debug:
        raise err
    print(f"{getattr(err, 'label', 'error')}: {err}", file=sys.stderr)
    return err.exit_code
