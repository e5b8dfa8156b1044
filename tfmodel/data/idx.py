"""`idx:DIR`: the IDX files of MNIST and its siblings (Fashion-MNIST, KMNIST, EMNIST…).

An IDX file is a big-endian header — two zero bytes, a type code, the number of dimensions, then
each dimension as a uint32 — followed by the values; the files are often gzipped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from tfmodel.data.source import SourceData
from tfmodel.errors import UserError

# The IDX type codes and their big-endian NumPy dtypes.
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def load_idx_source(directory: str, data_dir: str | None) -> SourceData:
    """The train and t10k images and labels in `directory`, each file plain or `.gz`."""
    del data_dir  # The directory is named in the source.
    folder = Path(directory).expanduser()
    arrays = {key: read_idx(_find(folder, name, directory)) for key, name in FILES.items()}
    return SourceData(**arrays)


def read_idx(path: Path) -> np.ndarray:
    """The array in one IDX file (gzipped if its name ends in .gz), in native byte order."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        data = stream.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in DTYPES:
        raise UserError(
            f"{path} is not an IDX file: its magic number is {data[:4].hex() or 'missing'}, "
            "expected 0000 then a type code (08 for unsigned bytes) and the number of dimensions; "
            "give the original (optionally gzipped) MNIST-style files"
        )
    dtype, ndim = np.dtype(DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise UserError(
            f"{path} is truncated or padded: its header promises shape {shape} "
            f"({expected} bytes) but the file holds {len(data)} bytes; download it again"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find(folder: Path, name: str, directory: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise UserError(
        f"data.source 'idx:{directory}': {folder} has neither {name} nor {name}.gz; "
        "the folder needs "
        f"{', '.join(FILES.values())} (each may be gzipped)"
    )
