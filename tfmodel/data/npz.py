"""`npz:PATH`: a NumPy archive with `x_train y_train x_test y_test`, as in keras' mnist.npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfmodel.data.source import SourceData
from tfmodel.errors import UserError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz_source(path: str, data_dir: str | None) -> SourceData:
    """The four arrays of the archive at `path`; `class_names` may add the class names."""
    del data_dir  # The path names the file.
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(
            f"data.source 'npz:{path}': no such file; give the path of an .npz holding "
            f"{', '.join(KEYS)} (e.g. keras' mnist.npz)"
        )
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"data.source 'npz:{path}' is not a readable .npz archive: {err}") from None
    with archive:
        missing = [key for key in KEYS if key not in archive.files]
        if missing:
            raise UserError(
                f"data.source 'npz:{path}' lacks the key(s) {', '.join(missing)}; it holds "
                f"{', '.join(archive.files) or 'nothing'}; save it with np.savez(path, "
                + ", ".join(f"{key}=..." for key in KEYS)
                + ")"
            )
        arrays = {key: archive[key] for key in KEYS}
        names = [str(name) for name in archive["class_names"]] if "class_names" in archive else None
    return SourceData(**arrays, class_names=names)
