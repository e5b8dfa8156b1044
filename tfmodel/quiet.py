"""Hold what TensorFlow's C++ code prints to stderr during one step; show it on failure or asked.

TensorFlow logs from C++ through absl while it loads, before TF_CPP_MIN_LOG_LEVEL is read
("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
cudart_stub's "Could not find cuda drivers"), and its CUDA probe logs an error on machines without
a GPU ("failed call to cuInit"). Those lines go to file descriptor 2 past Python's `sys.stderr`,
so only pointing the descriptor itself at a file catches them. The held text is written back in
full if the step raises, and nothing is held with `--verbose` or TFMODEL_VERBOSE=1. Standard
library only: the serving and edge sides may not import `tfmodel`, so edge/device/quiet.py is this
module's twin (tests/test_first_run_quiet.py keeps their code the same).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_ENV = "TFMODEL_VERBOSE"
VERBOSE_FLAG = "--verbose"
VERBOSE_HELP = f"show TensorFlow's and TFLite's own logs (also {VERBOSE_ENV}=1)"


def verbose_requested() -> bool:
    """Whether TFMODEL_VERBOSE is set (not 0) or `--verbose` is on the command line.

    sys.argv is read as well as the parsed flag because TensorFlow logs while it is imported,
    which a CLI module does before its `main` parses anything.
    """
    return os.environ.get(VERBOSE_ENV, "0") not in ("", "0") or VERBOSE_FLAG in sys.argv[1:]


class _VerboseAction(argparse.Action):
    """`--verbose`: sets TFMODEL_VERBOSE=1 for the rest of the process (e.g. `main([...])`)."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        os.environ[VERBOSE_ENV] = "1"
        setattr(namespace, self.dest, True)


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Give a CLI the `--verbose` flag."""
    parser.add_argument(VERBOSE_FLAG, action=_VerboseAction, help=VERBOSE_HELP)


@contextlib.contextmanager
def held_stderr() -> Iterator[None]:
    """Run the block with fd 2 sent to a temporary file, written back to fd 2 if the block raises.

    With `--verbose` the block writes to stderr as usual. The file descriptor is the process's,
    so this is for short steps on one thread (a conversion, making an interpreter).
    """
    if verbose_requested():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            held.seek(0)
            _write_all(held.read())
            raise
        _restore(saved)


def _restore(saved: int) -> None:
    sys.stderr.flush()  # Python's own writes in the block belong to the held text
    os.dup2(saved, 2)
    os.close(saved)


def _write_all(data: bytes) -> None:
    while data:
        data = data[os.write(2, data) :]


def hide_deprecation_notices(logger: logging.Logger) -> None:
    """Drop TensorFlow's "… is deprecated and will be removed …" notices from `logger`, unless
    verbose: they name TensorFlow's internals, not anything the user can act on."""
    logger.addFilter(
        lambda record: (
            verbose_requested() or "is deprecated and will be removed" not in record.getMessage()
        )
    )
