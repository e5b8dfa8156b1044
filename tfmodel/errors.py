"""The one error class users see: a message naming the input, the problem and the fix."""

import sys


class UserError(Exception):
    """Bad input from the user. The CLI prints the message and exits with status 2."""

    exit_code = 2
    label = "error"


def report_error(err: Exception, debug: bool) -> int:
    """Print an expected error as one line on stderr and return its exit status.

    Command-line tools call this from their `except` clause; with `--debug` the traceback is
    shown instead, for bug reports. `err` carries `exit_code` (and optionally `label`).
    """
    if debug:
        raise err
    print(f"{getattr(err, 'label', 'error')}: {err}", file=sys.stderr)
    return err.exit_code


def first_line(err: BaseException) -> str:
    """An exception's first message line (its type's name if it has none), for a one-line error."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
