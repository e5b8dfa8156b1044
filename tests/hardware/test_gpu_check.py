"""`make gpu-check` on a machine without a GPU says so and exits 0; its table reads."""

import subprocess
import sys
from pathlib import Path

import pytest

from tfmodel.backend import tf

SCRIPT = Path(__file__).resolve().parents[2] / "hardware" / "gpu_check.py"


@pytest.mark.slow
@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TensorFlow sees no GPU on this machine; nothing to check" in out.stdout
    assert list(tmp_path.iterdir()) == []


def test_table_marks_each_stage():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    table = gpu_check.format_table([("train", True, "2 GPU replica(s)"), ("weights", False, "x")])
    assert table.splitlines() == ["train    ok    2 GPU replica(s)", "weights  FAIL  x"]
