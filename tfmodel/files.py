"""Files a kill must never leave half-written, because a restart reads them back.

Each is written beside itself and renamed into place; a rename is atomic, so a kill leaves either
the old file or the new one. Resume depends on it: a half-written config.yaml, history.csv, backup
state or best checkpoint would stop the restart that is meant to recover the run, and a
half-written metrics.json would mark a run finished that has no record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """`write(partial)` a sibling file, then rename it to `path` (its suffix is kept)."""
    partial = path.with_name(f".partial-{path.name}")
    write(partial)
    os.replace(partial, path)


def write_text_atomically(path: Path, text: str) -> None:
    """`path.write_text(text)`, atomically."""
    replace_atomically(path, lambda partial: partial.write_text(text))
